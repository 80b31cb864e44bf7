"""A small synthetic detection dataset with rare hard negatives.

Online Hard Example Mining (OHEM, Shrivastava et al., CVPR 2016,
arXiv:1604.03540) pays off when almost every RoI is easy background and a
few negatives are hard: then random sampling of RoIs rarely picks the hard
ones, while OHEM trains on the RoIs with the highest loss. This module
draws images that have exactly that structure:

* three object classes (:data:`CLASSES`): solid disks, solid axis-aligned
  squares and solid triangles, 12-100 px, coloured from a palette;
* rare, *unannotated* distractors that look almost like the classes:
  rings, hollow squares and triangles, a "pac-man" disk and squares or
  triangles with a notch (:data:`DISTRACTORS`). They use the same colours
  and sizes, so only their shape tells them apart; about half of the
  images have one to three of them;
* an easy, low-contrast clutter background (smooth noise, stripes, soft
  blobs, thin lines), 0-6 objects per image, about 10 % of the images
  without any object.

Shapes are rasterised with numpy only (pixel centres at ``i + 0.5``), so the
output is identical on every machine; images are written as PNG with cv2
or, without it, Pillow. :func:`generate` writes COCO-style annotations
(boxes and polygon masks) and keeps the distractor boxes in the extra image
field ``hard_negatives`` as ``[x, y, w, h, kind]``.
"""
import json
import math
import os

import numpy as np

try:
    import cv2
except ImportError:  # pragma: no cover - Pillow is the fallback
    cv2 = None

GENERATOR_VERSION = 1
CLASSES = ('disk', 'square', 'triangle')
DISTRACTORS = ('ring', 'pacman', 'hollow_square', 'notched_square',
               'hollow_triangle', 'notched_triangle')
PALETTE = ((220, 40, 40), (40, 180, 60), (50, 80, 230), (230, 200, 40),
           (40, 200, 210), (200, 60, 200), (240, 130, 30))
MIN_SIZE, MAX_SIZE = 12, 100
MAX_OBJECTS = 6
P_EMPTY = 0.1  # probability of an image without objects
P_HARD = 0.5  # probability of an image with 1-3 distractors
MAX_IOU = 0.3  # box IoU above which a placement is rejected
MAX_COVER = 0.25  # the largest mask overlap, as share of the smaller
_SPLITS = ('train', 'val')


def _interp_matrix(n_out: int, n_in: int) -> np.ndarray:
    """Linear interpolation weights that resample ``n_in`` to ``n_out``."""
    pos = np.linspace(0, n_in - 1, n_out)
    i0 = np.clip(np.floor(pos).astype(int), 0, n_in - 2)
    frac = pos - i0
    m = np.zeros((n_out, n_in))
    m[np.arange(n_out), i0] = 1 - frac
    m[np.arange(n_out), i0 + 1] = frac
    return m


def draw_background(rng: np.random.Generator, img_size: int) -> np.ndarray:
    """Draws the low-contrast clutter background.

    Args:
        rng: The random generator.
        img_size: Side of the square image in pixels.

    Returns:
        A float ``(img_size, img_size, 3)`` RGB array, roughly in 40-200.
    """
    s = img_size
    ys, xs = np.mgrid[0:s, 0:s] + 0.5
    k = int(rng.integers(3, 9))
    m = _interp_matrix(s, k)
    gray = rng.uniform(70, 160) + m @ rng.normal(0, 10, (k, k)) @ m.T
    if rng.random() < 0.5:  # stripes
        theta, period = rng.uniform(0, np.pi), rng.uniform(6, 40)
        phase = (xs * np.cos(theta) + ys * np.sin(theta)) / period
        gray += rng.uniform(3, 8) * np.sin(2 * np.pi * phase)
    for _ in range(int(rng.integers(1, 6))):  # soft blobs
        cx, cy = rng.uniform(0, s, 2)
        sigma = rng.uniform(4, s / 6)
        d2 = (xs - cx)**2 + (ys - cy)**2
        gray += rng.uniform(-20, 20) * np.exp(-d2 / (2 * sigma**2))
    for _ in range(int(rng.integers(0, 5))):  # thin lines
        (ax, ay), (bx, by) = rng.uniform(0, s, (2, 2))
        dx, dy = bx - ax, by - ay
        t = ((xs - ax) * dx + (ys - ay) * dy) / max(dx * dx + dy * dy, 1e-6)
        t = np.clip(t, 0, 1)
        dist = np.hypot(xs - ax - t * dx, ys - ay - t * dy)
        gray[dist < rng.uniform(0.5, 1.5)] += rng.uniform(-25, 25)
    return gray[..., None] + rng.uniform(-8, 8, 3)


def _convex(xs: np.ndarray, ys: np.ndarray, verts: np.ndarray) -> np.ndarray:
    """Mask of the pixel centres inside a convex polygon."""
    x, y = verts[:, 0], verts[:, 1]
    if np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y) < 0:
        verts = verts[::-1]
    inside = np.ones(xs.shape, bool)
    for (x1, y1), (x2, y2) in zip(verts, np.roll(verts, -1, axis=0)):
        inside &= (x2 - x1) * (ys - y1) - (y2 - y1) * (xs - x1) >= 0
    return inside


def _disk(xs, ys, cx: float, cy: float, r: float) -> np.ndarray:
    """Mask of the pixel centres inside a circle."""
    return (xs - cx)**2 + (ys - cy)**2 <= r * r


def make_shape(kind: str, size: float, rng: np.random.Generator):
    """Rasterises one shape (a class or a distractor) in its own frame.

    Args:
        kind: One of :data:`CLASSES` or :data:`DISTRACTORS`.
        size: Diameter, side or largest extent in pixels.
        rng: The random generator.

    Returns:
        tuple: The boolean mask cropped to its tight box, shape ``(h, w)``,
        and the outline polygon ``(N, 2)`` in the same frame, clipped to
        ``[0, w] x [0, h]``.
    """
    n = int(math.ceil(size)) + 3
    ys, xs = np.mgrid[0:n, 0:n] + 0.5
    family = kind.split('_')[-1]
    if family in ('disk', 'ring', 'pacman'):
        c, r = n / 2, size / 2
        mask = _disk(xs, ys, c, c, r)
        ang = np.linspace(0, 2 * np.pi, 24, endpoint=False)
        poly = np.stack([c + r * np.cos(ang), c + r * np.sin(ang)], 1)
        if kind == 'ring':
            t = max(2.0, r * rng.uniform(0.2, 0.35))
            mask &= ~_disk(xs, ys, c, c, r - t)
        elif kind == 'pacman':
            diff = np.arctan2(ys - c, xs - c) - rng.uniform(-np.pi, np.pi)
            diff = np.abs(np.angle(np.exp(1j * diff)))
            mask &= diff > np.radians(rng.uniform(25, 50))
    elif family == 'square':
        side, o = max(MIN_SIZE, int(round(size))), 1
        mask = (xs > o) & (xs < o + side) & (ys > o) & (ys < o + side)
        poly = np.array([[o, o], [o + side, o], [o + side, o + side],
                         [o, o + side]], float)
        if kind == 'hollow_square':
            t = max(2, int(round(side * rng.uniform(0.12, 0.25))))
            mask &= ~((xs > o + t) & (xs < o + side - t) & (ys > o + t) &
                      (ys < o + side - t))
        elif kind == 'notched_square':
            u, v = [(xs, ys), (xs, 2 * o + side - ys), (ys, xs),
                    (ys, 2 * o + side - xs)][int(rng.integers(4))]
            width = side * rng.uniform(0.3, 0.5)
            centre = o + side * rng.uniform(0.35, 0.65)
            depth = side * rng.uniform(0.25, 0.4)
            mask &= ~((np.abs(u - centre) < width / 2) & (v < o + depth))
    else:  # triangles
        ang = rng.uniform(
            0, 2 * np.pi) + np.radians([0, 120, 240] + rng.uniform(-12, 12, 3))
        poly = np.stack([np.cos(ang), np.sin(ang)], 1)
        poly = poly * rng.uniform(0.9, 1.0, (3, 1))
        poly -= poly.min(0)
        poly = poly * (size / poly.max()) + 1
        mask = _convex(xs, ys, poly)
        if kind == 'hollow_triangle':
            mid = poly.mean(0)
            inner = mid + rng.uniform(0.35, 0.6) * (poly - mid)
            mask &= ~_convex(xs, ys, inner)
        elif kind == 'notched_triangle':
            i = int(rng.integers(3))
            a, b = poly[i], poly[(i + 1) % 3]
            r = np.hypot(*(b - a)) * rng.uniform(0.15, 0.25)
            mask &= ~_disk(xs, ys, *((a + b) / 2), r)
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    y0, y1, x0, x1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    poly = np.clip(poly - (x0, y0), 0, (x1 - x0, y1 - y0))
    return mask[y0:y1, x0:x1], poly


def _box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one ``[x, y, w, h]`` box with an ``(N, 4)`` array of them."""
    lt = np.maximum(box[:2], boxes[:, :2])
    rb = np.minimum(box[:2] + box[2:], boxes[:, :2] + boxes[:, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=1)
    union = box[2] * box[3] + boxes[:, 2] * boxes[:, 3] - inter
    return inter / union


def draw_sample(rng: np.random.Generator, img_size: int = 256):
    """Draws one image with its annotations and its distractors.

    Objects and distractors are placed in random order; a placement is
    retried (at most 30 times, then the shape is dropped) while its box
    IoU with an already placed shape exceeds :data:`MAX_IOU` or the masks
    overlap by more than :data:`MAX_COVER` of the smaller one.

    Args:
        rng: The random generator; the sample depends only on its state.
        img_size: Side of the square image in pixels.

    Returns:
        tuple: The ``uint8`` RGB image ``(img_size, img_size, 3)``; a list of
        annotation dicts (``category_id``, ``bbox`` ``[x, y, w, h]``,
        ``area``, ``segmentation``, ``iscrowd`` and the drawn ``color``);
        a list of distractors ``[x, y, w, h, kind]``.
    """
    s, n_kinds = img_size, len(DISTRACTORS)
    img = draw_background(rng, s)
    n_obj = 0 if rng.random() < P_EMPTY else rng.integers(1, MAX_OBJECTS + 1)
    n_neg = rng.integers(1, 4) if rng.random() < P_HARD else 0
    kinds = ([CLASSES[i] for i in rng.integers(len(CLASSES), size=n_obj)] +
             [DISTRACTORS[i] for i in rng.integers(n_kinds, size=n_neg)])
    log_range = np.log([MIN_SIZE, min(MAX_SIZE, 0.4 * s)])
    owner = np.full((s, s), -1, np.int32)
    boxes, areas, anns, negs = [], [], [], []
    for kind in [kinds[i] for i in rng.permutation(len(kinds))]:
        for _ in range(30):
            mask, poly = make_shape(kind, np.exp(rng.uniform(*log_range)), rng)
            (h, w), area = mask.shape, int(mask.sum())
            x0, y0 = rng.integers(0, s - w + 1), rng.integers(0, s - h + 1)
            box = np.array([x0, y0, w, h], float)
            win = owner[y0:y0 + h, x0:x0 + w]
            if boxes and _box_iou(box, np.array(boxes)).max() > MAX_IOU:
                continue
            hit = np.bincount(win[mask & (win >= 0)], minlength=len(areas))
            if np.any(hit > MAX_COVER * np.minimum(area, areas)):
                continue
            color = np.array(PALETTE[rng.integers(len(PALETTE))], float)
            color = color * rng.uniform(0.6, 1.0) + rng.uniform(-10, 10, 3)
            color = np.clip(np.round(color), 0, 255)
            img[y0:y0 + h, x0:x0 + w][mask] = color
            win[mask] = len(areas)
            boxes.append(box)
            areas.append(area)
            xywh = [float(v) for v in box]
            if kind in DISTRACTORS:
                negs.append(xywh + [kind])
                break
            polygon = np.round(poly + (x0, y0), 2).ravel().tolist()
            anns.append({
                'category_id': CLASSES.index(kind) + 1,
                'bbox': xywh,
                'area': float(w * h),
                'iscrowd': 0,
                'segmentation': [polygon],
                'color': [int(c) for c in color]
            })
            break
    img += rng.normal(0, 2, img.shape)
    return np.clip(np.round(img), 0, 255).astype(np.uint8), anns, negs


def _imwrite(path: str, img: np.ndarray) -> None:
    """Writes an RGB ``uint8`` image with cv2 or, without it, Pillow."""
    if cv2 is not None:
        if not cv2.imwrite(path, np.ascontiguousarray(img[..., ::-1])):
            raise IOError(f'could not write {path}')
    else:  # pragma: no cover
        try:
            from PIL import Image
        except ImportError as e:
            raise ImportError('writing images needs opencv-python or '
                              'Pillow') from e
        Image.fromarray(img).save(path)


def _paths(out_dir: str, split: str) -> dict:
    """The annotation file and image folder of a split."""
    return dict(
        ann_file=os.path.join(out_dir, 'annotations',
                              f'instances_{split}.json'),
        img_dir=os.path.join(out_dir, split))


def _write_split(out_dir: str, split: str, n: int, img_size: int,
                 seed: int) -> dict:
    """Draws and writes one split; returns its summary."""
    paths = _paths(out_dir, split)
    img_dir = paths['img_dir']
    os.makedirs(img_dir, exist_ok=True)
    for name in os.listdir(img_dir):  # stale images of an earlier run
        if name.endswith('.png') and name[:-4].isdigit():
            os.remove(os.path.join(img_dir, name))
    images, annotations = [], []
    for i in range(n):
        # one generator per image: a split does not depend on other splits
        rng = np.random.default_rng([seed, _SPLITS.index(split), i])
        img, anns, negs = draw_sample(rng, img_size)
        file_name = f'{i + 1:06d}.png'
        _imwrite(os.path.join(img_dir, file_name), img)
        images.append(
            dict(
                id=i + 1,
                file_name=file_name,
                width=img_size,
                height=img_size,
                hard_negatives=negs))
        for ann in anns:
            ann.pop('color')
            annotations.append(
                dict(id=len(annotations) + 1, image_id=i + 1, **ann))
    coco = dict(
        info=dict(
            description='mmdet-ohem synthetic hard negatives',
            version=str(GENERATOR_VERSION),
            seed=seed,
            split=split),
        licenses=[],
        images=images,
        annotations=annotations,
        categories=[
            dict(id=i + 1, name=c, supercategory='shape')
            for i, c in enumerate(CLASSES)
        ])
    os.makedirs(os.path.dirname(paths['ann_file']), exist_ok=True)
    with open(paths['ann_file'], 'w') as f:
        json.dump(coco, f)
    with_objects = len({a['image_id'] for a in annotations})
    return dict(
        num_images=n,
        num_annotations=len(annotations),
        num_hard_negatives=sum(len(i['hard_negatives']) for i in images),
        num_empty=n - with_objects)


def generate(out_dir: str,
             n_train: int = 300,
             n_val: int = 100,
             img_size: int = 256,
             seed: int = 0,
             force: bool = False) -> dict:
    """Writes the dataset, or reuses it if it was made the same way.

    Layout: ``{out_dir}/{train,val}/000001.png ...`` and
    ``{out_dir}/annotations/instances_{train,val}.json``; ``meta.json``
    records the parameters and is written last.

    Args:
        out_dir: The dataset root, e.g. ``data/hard_negatives``.
        n_train: Number of training images.
        n_val: Number of validation images.
        img_size: Side of the square images in pixels.
        seed: The seed; image ``i`` of a split depends only on ``seed``,
            the split and ``i``.
        force: Regenerate even if ``meta.json`` matches.

    Returns:
        dict: ``out_dir``, ``skipped`` (True if nothing was written), the
        ``params`` and per split (``train``, ``val``) its ``ann_file``,
        ``img_dir`` and counts (``num_images``, ``num_annotations``,
        ``num_hard_negatives``, ``num_empty``).
    """
    params = dict(
        version=GENERATOR_VERSION,
        seed=seed,
        n_train=n_train,
        n_val=n_val,
        img_size=img_size)
    meta_file = os.path.join(out_dir, 'meta.json')
    paths = {split: _paths(out_dir, split) for split in _SPLITS}
    meta = None
    if not force and os.path.isfile(meta_file) and all(
            os.path.isfile(p['ann_file']) for p in paths.values()):
        with open(meta_file) as f:
            meta = json.load(f)
    skipped = meta is not None and meta.get('params') == params
    if not skipped:
        os.makedirs(out_dir, exist_ok=True)
        if os.path.isfile(meta_file):
            os.remove(meta_file)
        splits = {
            split: _write_split(out_dir, split, n, img_size, seed)
            for split, n in zip(_SPLITS, (n_train, n_val))
        }
        meta = dict(params=params, splits=splits)
        with open(meta_file, 'w') as f:
            json.dump(meta, f, indent=2)
    result = dict(out_dir=out_dir, skipped=skipped, params=params)
    for split in _SPLITS:
        result[split] = dict(paths[split], **meta['splits'][split])
    return result

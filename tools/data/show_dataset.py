"""Draw a grid of samples of the embedded hard-negatives dataset.

Each tile is one image with its ground-truth boxes and class names, drawn
by MMDetection's ``DetLocalVisualizer``; with ``--hard-negatives`` the
unannotated look-alikes (``hard_negatives`` field of the image) are added
as dashed red boxes named by their kind. Made for the README picture.

Example::

    python tools/data/show_dataset.py --data-root data/hard_negatives \\
        --num 6 --hard-negatives --out docs/hard_negatives_samples.png
"""
import argparse
import json
import math
import os
import os.path as osp
import sys
import warnings
from typing import List, Optional, Sequence, Tuple

import numpy as np

from mmdet_ohem.utils.noise import silence_import_noise

GT_COLOR = (0, 220, 0)  # RGB, as in tools/analysis/show_hard_examples.py
NEG_COLOR = (255, 40, 40)
GAP_COLOR = (255, 255, 255)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        description='Draw a grid of samples of the hard-negatives dataset')
    parser.add_argument(
        '--data-root',
        default='data/hard_negatives',
        help='dataset root (default: %(default)s)')
    parser.add_argument(
        '--split', default='train', help='split (default: %(default)s)')
    parser.add_argument(
        '--num', type=int, default=6, help='images (default: %(default)s)')
    parser.add_argument(
        '--start',
        type=int,
        default=0,
        help='index of the first image (default: %(default)s)')
    parser.add_argument(
        '--cols',
        type=int,
        default=3,
        help='grid columns (default: '
        '%(default)s)')
    parser.add_argument(
        '--tile',
        type=int,
        default=256,
        help='side of a tile in pixels (default: %(default)s)')
    parser.add_argument(
        '--gap',
        type=int,
        default=4,
        help='pixels between tiles '
        '(default: %(default)s)')
    parser.add_argument(
        '--hard-negatives',
        action='store_true',
        help='also draw the unannotated distractors (dashed, red)')
    parser.add_argument(
        '--only-hard',
        action='store_true',
        help='only images with objects and distractors (--start counts '
        'among them)')
    parser.add_argument(
        '--colors',
        type=int,
        default=256,
        help='quantise the PNG to this many colours, 0 for full RGB '
        '(default: %(default)s; keeps the README picture small: the '
        'images are noisy and compress badly)')
    parser.add_argument('--out', required=True, help='output PNG')
    args = parser.parse_args(argv)
    for key in ('num', 'cols', 'tile'):
        if getattr(args, key) < 1:
            parser.error(f'--{key} must be >= 1')
    if args.gap < 0 or args.start < 0:
        parser.error('--gap and --start must be >= 0')
    if not 0 <= args.colors <= 256:
        parser.error('--colors must be in [0, 256]')
    return args


def load_split(data_root: str, split: str) -> dict:
    """The COCO annotations of a split, with each image's boxes attached.

    Returns:
        dict: ``classes`` (by category order) and ``images``: the image
        entries, each with ``path``, ``bboxes`` (x1, y1, x2, y2), ``labels``
        (indices into ``classes``) and ``hard_negatives``.

    Raises:
        FileNotFoundError: If the annotation file is missing.
    """
    ann_file = osp.join(data_root, 'annotations', f'instances_{split}.json')
    if not osp.isfile(ann_file):
        raise FileNotFoundError(
            f'Annotations not found at {ann_file}. Generate the dataset: '
            f'python tools/data/generate_hard_negatives.py --out {data_root}')
    with open(ann_file) as f:
        coco = json.load(f)
    cats = sorted(coco['categories'], key=lambda c: c['id'])
    label_of = {c['id']: i for i, c in enumerate(cats)}
    images = {
        img['id']: dict(img, bboxes=[], labels=[])
        for img in coco['images']
    }
    for ann in coco['annotations']:
        x, y, w, h = ann['bbox']
        images[ann['image_id']]['bboxes'].append([x, y, x + w, y + h])
        images[ann['image_id']]['labels'].append(label_of[ann['category_id']])
    for img in images.values():
        img['path'] = osp.join(data_root, split, img['file_name'])
        img.setdefault('hard_negatives', [])
    return dict(
        classes=[c['name'] for c in cats],
        images=sorted(images.values(), key=lambda i: i['id']))


def draw_tile(visualizer, img_info: dict, tile: int,
              hard_negatives: bool) -> np.ndarray:
    """One image at ``tile`` x ``tile`` px with its boxes, RGB.

    The image is resized before drawing, so lines and texts have the same
    size in every tile.
    """
    import mmcv
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData

    image = mmcv.imread(img_info['path'], channel_order='rgb')
    if image is None:
        raise FileNotFoundError(f'Image not found: {img_info["path"]}')
    h, w = image.shape[:2]
    image = mmcv.imresize(image, (tile, tile))
    scale = np.array([tile / w, tile / h] * 2, dtype=np.float32)
    bboxes = np.array(img_info['bboxes'], np.float32).reshape(-1, 4)
    sample = DetDataSample()
    # numpy, not tensors: mmdet's label scaling calls np.clip on the box
    # areas, which warns for tensors under numpy 2.
    sample.gt_instances = InstanceData(
        bboxes=bboxes * scale,
        labels=np.array(img_info['labels'], dtype=np.int64))
    visualizer.add_datasample(
        img_info['file_name'], image, sample, draw_gt=True, draw_pred=False)
    negs = img_info['hard_negatives']
    if hard_negatives and negs:
        xywh = np.array([n[:4] for n in negs], np.float32)
        boxes = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], 1)
        boxes = boxes * scale
        visualizer.draw_bboxes(
            boxes, edge_colors=NEG_COLOR, line_styles='--', line_widths=2)
        # Right-aligned on the right half, so long names stay in the tile.
        right = boxes[:, 0] > tile / 2
        anchors = np.where(right[:, None], boxes[:, [2, 3]] + [-2, -2],
                           boxes[:, [0, 3]] + [2, -2])
        visualizer.draw_texts(
            [n[4] for n in negs],
            anchors,
            colors='white',
            font_sizes=max(6, tile // 40),
            vertical_alignments='bottom',
            horizontal_alignments=['right' if r else 'left' for r in right],
            bboxes=dict(
                facecolor=tuple(c / 255 for c in NEG_COLOR),
                alpha=0.6,
                pad=0.3,
                edgecolor='none'))
    return visualizer.get_image()


def grid_shape(num: int, cols: int, tile: int, gap: int) -> Tuple[int, int]:
    """``(height, width)`` of a grid of ``num`` tiles, ``cols`` per row."""
    cols = min(cols, num)
    rows = math.ceil(num / cols)
    return rows * tile + (rows - 1) * gap, cols * tile + (cols - 1) * gap


def make_grid(tiles: List[np.ndarray], cols: int, gap: int) -> np.ndarray:
    """Tiles (equal squares) in rows of ``cols``, on a white background."""
    tile = tiles[0].shape[0]
    cols = min(cols, len(tiles))
    height, width = grid_shape(len(tiles), cols, tile, gap)
    grid = np.empty((height, width, 3), np.uint8)
    grid[:] = GAP_COLOR
    for i, t in enumerate(tiles):
        y, x = (i // cols) * (tile + gap), (i % cols) * (tile + gap)
        grid[y:y + tile, x:x + tile] = t
    return grid


def save_png(image: np.ndarray, path: str, colors: int) -> None:
    """Write an RGB image, quantised to ``colors`` colours unless 0."""
    from PIL import Image

    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    pil = Image.fromarray(image)
    if colors:
        # No dithering: its pixel noise would undo most of the saving.
        pil = pil.quantize(
            colors=colors,
            method=Image.Quantize.MEDIANCUT,
            dither=Image.Dither.NONE)
    pil.save(path, optimize=True)


def main(argv: Optional[Sequence[str]] = None) -> np.ndarray:
    """Draw the grid and write it to ``--out``; returns it (RGB)."""
    # The stack's known deprecations, filtered for this whole run (mmcv and
    # mmdet are imported to draw): a tool is a program.
    silence_import_noise()
    args = parse_args(argv)
    try:
        data = load_split(args.data_root, args.split)
    except FileNotFoundError as error:
        print(error, file=sys.stderr)
        sys.exit(1)
    images = data['images']
    if args.only_hard:
        images = [i for i in images if i['bboxes'] and i['hard_negatives']]
    images = images[args.start:args.start + args.num]
    if not images:
        print(
            f'No images from index {args.start} in {args.split} '
            f'({len(data["images"])} images)',
            file=sys.stderr)
        sys.exit(1)

    from mmdet.visualization import DetLocalVisualizer

    visualizer = DetLocalVisualizer(
        name='show_dataset', line_width=2, text_color=(255, 255, 255))
    # One colour for every class, as the gt of show_hard_examples; the
    # labels name the class.
    visualizer.dataset_meta = dict(classes=data['classes'], palette=GT_COLOR)
    with warnings.catch_warnings():
        # mmengine flags x2 == width as out of bounds; boxes may end there.
        warnings.filterwarnings(
            'ignore',
            message='Warning: The .* is out of bounds',
            category=UserWarning)
        tiles = [
            draw_tile(visualizer, img, args.tile, args.hard_negatives)
            for img in images
        ]
    grid = make_grid(tiles, args.cols, args.gap)
    save_png(grid, args.out, args.colors)
    print(f'{len(tiles)} images of {args.data_root} ({args.split}) written '
          f'to {args.out} ({grid.shape[1]}x{grid.shape[0]} px, '
          f'{osp.getsize(args.out) // 1024} KB)')
    return grid


if __name__ == '__main__':
    main()

"""Write COCO annotation files of the playing-card photos for ``CocoDataset``.

The cards set (363 photos ``images/<id>.JPG`` or ``images/<id>.jpg``, PASCAL
VOC XML ``annotations/<id>.xml``, six classes, the publisher's split in
``splits/train.txt`` and ``splits/test.txt``) is read where it lies; it is
not shipped with mmdet-ohem. mmdet's ``XMLDataset`` looks for
``<id>.jpg`` only and misses the ``.JPG`` photos, so this converts the XML
once into ``instances_train.json`` and ``instances_test.json`` for
``configs/benchmarks/cards/``, which read them with mmdet's own
``CocoDataset`` and ``CocoMetric``::

    CARDS_ROOT=/path/to/cards python tools/data/prepare_cards.py
    python tools/data/prepare_cards.py --root /path/to/cards --out data/cards

Each image's ``file_name`` is its file as found on disk. The boxes are the
ones ``XMLDataset`` would load (``int(float(v))`` of each corner, minus 1),
written as COCO ``[x, y, w, h]``, so ``CocoDataset`` gives the model the
same corners ``XMLDataset`` would; a ``difficult`` object becomes
``iscrowd`` (ignored by both in training and by COCO evaluation). The XML
``path`` fields (Windows paths of the publisher's machine) are not used.
The same folder always gives the same bytes, and a file whose content is
unchanged is not rewritten.
"""
import argparse
import json
import os
import os.path as osp
import re
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections import Counter
from typing import Dict, List, Optional, Sequence, Tuple

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
# The photos' folder, as the configs find it: CARDS_ROOT, else
# data/cards_photos/ under the working directory.
DEFAULT_ROOT = os.environ.get('CARDS_ROOT', 'data/cards_photos')
DEFAULT_OUT = osp.join(REPO, 'data', 'cards')
# The XML's class names, in the order of the configs' ``classes``.
CLASSES = ('nine', 'ten', 'jack', 'queen', 'king', 'ace')
SPLITS = ('train', 'test')
IMAGE_EXTS = ('.jpg', '.jpeg')


def natural_key(img_id: str) -> list:
    """Sort key putting ``IMG_2`` before ``IMG_10``."""
    return [int(t) if t.isdigit() else t for t in re.split(r'(\d+)', img_id)]


def read_split(root: str, split: str) -> List[str]:
    """The ids of ``splits/<split>.txt``, in file order, blank lines
    skipped."""
    path = osp.join(root, 'splits', f'{split}.txt')
    with open(path) as f:
        return [line.strip() for line in f if line.strip()]


def image_names(img_dir: str) -> Dict[str, List[str]]:
    """The image files of ``img_dir`` by id (file name without extension),
    whatever the case of the extension."""
    names: Dict[str, List[str]] = {}
    for name in sorted(os.listdir(img_dir)):
        stem, ext = osp.splitext(name)
        if ext.lower() in IMAGE_EXTS:
            names.setdefault(stem, []).append(name)
    return names


def find_image(img_id: str, candidates: Sequence[str],
               xml_name: Optional[str]) -> str:
    """The image file of ``img_id``: the one the XML names if it is on disk,
    else the only file with that id.

    Raises:
        FileNotFoundError: If no image file has the id, or several do and
            the XML names none of them.
    """
    if xml_name in candidates:
        return xml_name
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise FileNotFoundError(f'No image images/{img_id}.jpg (any case of '
                                'the extension) for annotations/'
                                f'{img_id}.xml')
    raise FileNotFoundError(f'Several images for {img_id}: {candidates}, '
                            'and the XML filename names none of them')


def voc_box(bndbox: ET.Element) -> List[int]:
    """A VOC ``bndbox`` as ``XMLDataset`` loads it: each corner
    ``int(float(v)) - 1`` (mmdet 3.x ``minus_one``), as COCO
    ``[x, y, w, h]``."""
    x1, y1, x2, y2 = (int(float(bndbox.find(k).text)) - 1
                      for k in ('xmin', 'ymin', 'xmax', 'ymax'))
    return [x1, y1, x2 - x1, y2 - y1]


def read_annotation(xml_path: str) -> Tuple[dict, List[dict]]:
    """The size, file name and objects of one VOC XML file.

    Returns:
        tuple[dict, list[dict]]: ``width``/``height``/``filename``, and per
        object its ``name``, ``bbox`` (COCO, see :func:`voc_box`) and
        ``difficult``.

    Raises:
        ValueError: On a class name outside :data:`CLASSES` (mmdet would
            drop the object without a word) or a box of no area.
    """
    root = ET.parse(xml_path).getroot()
    size = root.find('size')
    info = dict(
        width=int(size.find('width').text),
        height=int(size.find('height').text),
        filename=root.findtext('filename'))
    objects = []
    for obj in root.findall('object'):
        name = obj.findtext('name')
        if name not in CLASSES:
            raise ValueError(f'{xml_path}: class {name!r} is not one of '
                             f'{CLASSES}')
        bbox = voc_box(obj.find('bndbox'))
        if bbox[2] < 1 or bbox[3] < 1:
            raise ValueError(f'{xml_path}: box of no area {bbox} ({name})')
        difficult = int(obj.findtext('difficult') or 0)
        objects.append(dict(name=name, bbox=bbox, difficult=difficult))
    return info, objects


def build_coco(root: str, ids: Sequence[str], image_ids: Dict[str, int],
               first_ann_id: int,
               names: Dict[str, List[str]]) -> dict:
    """The COCO dict of one split.

    Args:
        root (str): The cards folder.
        ids (Sequence[str]): The split's ids.
        image_ids (dict[str, int]): The COCO image id of every id of the
            set (unique over both splits).
        first_ann_id (int): The first annotation id of the split.
        names (dict[str, list[str]]): :func:`image_names` of ``images/``.

    Returns:
        dict: ``info``, ``images``, ``annotations``, ``categories``.
    """
    images, annotations = [], []
    for img_id in sorted(ids, key=natural_key):
        xml_path = osp.join(root, 'annotations', f'{img_id}.xml')
        if not osp.isfile(xml_path):
            raise FileNotFoundError(f'No annotation {xml_path} for the '
                                    f"split's id {img_id}")
        info, objects = read_annotation(xml_path)
        images.append(
            dict(
                id=image_ids[img_id],
                file_name=find_image(img_id, names.get(img_id, []),
                                     info['filename']),
                width=info['width'],
                height=info['height']))
        for obj in objects:
            w, h = obj['bbox'][2:]
            annotations.append(
                dict(
                    id=first_ann_id + len(annotations),
                    image_id=image_ids[img_id],
                    category_id=CLASSES.index(obj['name']) + 1,
                    bbox=obj['bbox'],
                    area=w * h,
                    iscrowd=obj['difficult']))
    return dict(
        info=dict(description='playing cards (github EdjeElectronics/'
                  'TensorFlow-Object-Detection-API-Tutorial-Train-Multiple-'
                  'Objects-Windows-10, Apache-2.0), from its VOC XML by '
                  'tools/data/prepare_cards.py'),
        images=images,
        annotations=annotations,
        categories=[dict(id=i + 1, name=name)
                    for i, name in enumerate(CLASSES)])


def write_if_changed(path: str, text: str) -> bool:
    """Write ``text`` to ``path`` atomically unless it holds it already.

    Returns:
        bool: Whether the file was written.
    """
    if osp.isfile(path):
        with open(path) as f:
            if f.read() == text:
                return False
    # A reader (a training started meanwhile) never sees half a file.
    fd, tmp = tempfile.mkstemp(dir=osp.dirname(path), suffix='.tmp')
    with os.fdopen(fd, 'w') as f:
        f.write(text)
    os.replace(tmp, path)
    return True


def prepare(root: str = DEFAULT_ROOT, out: str = DEFAULT_OUT) -> dict:
    """Write ``instances_train.json`` and ``instances_test.json``.

    Args:
        root (str): The cards folder (``images/``, ``annotations/``,
            ``splits/``).
        out (str): Where to write the two files (created if needed).

    Returns:
        dict: Per split, ``file`` (the path), ``images``, ``boxes`` and
        ``classes`` (box count per class name).

    Raises:
        FileNotFoundError: If the folder, a split list, an annotation or an
            image is missing; nothing is written then.
        ValueError: If the splits overlap, or an annotation has an unknown
            class or a box of no area.
    """
    img_dir = osp.join(root, 'images')
    if not (osp.isdir(img_dir) and osp.isdir(osp.join(root, 'annotations'))
            and osp.isdir(osp.join(root, 'splits'))):
        raise FileNotFoundError(
            f'Cards photos not found at {root}: expected images/, '
            'annotations/ (PASCAL VOC) and splits/{train,test}.txt there. '
            'They are not shipped with mmdet-ohem; pass the folder with '
            '--root.')
    splits = {split: read_split(root, split) for split in SPLITS}
    overlap = set(splits['train']) & set(splits['test'])
    if overlap:
        raise ValueError(f'{len(overlap)} ids in both splits, e.g. '
                         f'{sorted(overlap)[0]}')
    # Ids numbered over the whole set, so an image keeps its id whichever
    # split lists it.
    all_ids = sorted(splits['train'] + splits['test'], key=natural_key)
    image_ids = {img_id: i + 1 for i, img_id in enumerate(all_ids)}
    names = image_names(img_dir)
    cocos, first_ann_id = {}, 1
    for split in SPLITS:
        cocos[split] = build_coco(root, splits[split], image_ids,
                                  first_ann_id, names)
        first_ann_id += len(cocos[split]['annotations'])
    os.makedirs(out, exist_ok=True)
    result = {}
    for split, coco in cocos.items():
        path = osp.join(out, f'instances_{split}.json')
        write_if_changed(path, json.dumps(coco, indent=1) + '\n')
        counts = Counter(coco['categories'][a['category_id'] - 1]['name']
                         for a in coco['annotations'])
        result[split] = dict(
            file=path,
            images=len(coco['images']),
            boxes=len(coco['annotations']),
            classes={name: counts[name] for name in CLASSES})
    return result


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        '--root',
        default=DEFAULT_ROOT,
        help='the cards folder (default: $CARDS_ROOT, else data/cards_photos '
        'under the working directory)')
    parser.add_argument(
        '--out',
        default=DEFAULT_OUT,
        help='where to write instances_{train,test}.json (default: '
        'data/cards in the repository, where configs/benchmarks/cards/ read '
        'them)')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> dict:
    """Write the files and print what was written; exit 1 without data."""
    args = parse_args(argv)
    try:
        result = prepare(args.root, args.out)
    except (FileNotFoundError, ValueError) as error:
        print(error, file=sys.stderr)
        sys.exit(1)
    for split, info in result.items():
        classes = ', '.join(f'{k} {v}' for k, v in info['classes'].items())
        print(f'{split}: {info["images"]} images, {info["boxes"]} boxes '
              f'({classes}) -> {info["file"]}')
    return result


if __name__ == '__main__':
    main(sys.argv[1:])

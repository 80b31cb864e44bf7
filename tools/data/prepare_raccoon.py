"""Write train/val splits of the raccoon photos for mmdet's ``XMLDataset``.

The raccoon dataset (200 JPEGs ``images/raccoon-N.jpg`` with PASCAL VOC
XML ``annotations/raccoon-N.xml``, one class) is read where it lies
(``--root`` or ``RACCOON_ROOT``); it is not shipped with mmdet-ohem. This
writes the two id lists ``XMLDataset`` reads as ``ann_file`` (one id such
as ``raccoon-1`` per line), for ``configs/benchmarks/raccoon/``::

    RACCOON_ROOT=/path/to/raccoon python tools/data/prepare_raccoon.py
    python tools/data/prepare_raccoon.py --root /path/to/raccoon --seed 1

The split is a seeded shuffle, so the same folder and seed always give the
same files. Byte-identical photos (the folder has a few) go to the same
side, so the val images are never seen in training.
"""
import argparse
import glob
import hashlib
import os
import os.path as osp
import random
import re
import sys
from typing import Dict, List, Optional, Sequence, Tuple

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
# The photos' folder without --root, as the configs find it: RACCOON_ROOT,
# else data/raccoon_photos/ under the working directory.
FALLBACK_ROOT = 'data/raccoon_photos'
DEFAULT_OUT = osp.join(REPO, 'data', 'raccoon')


def natural_key(img_id: str) -> list:
    """Sort key putting ``raccoon-2`` before ``raccoon-10``."""
    return [int(t) if t.isdigit() else t for t in re.split(r'(\d+)', img_id)]


def list_ids(root: str) -> List[str]:
    """Ids of the photos under ``root`` that have an XML annotation.

    Args:
        root (str): The dataset folder, with ``images/`` and
            ``annotations/``.

    Returns:
        list[str]: The ids (file names without extension), naturally
        sorted.

    Raises:
        FileNotFoundError: If ``root`` or its sub-folders are missing, it
            holds no annotation, or an annotated image is missing.
    """
    ann_dir = osp.join(root, 'annotations')
    img_dir = osp.join(root, 'images')
    if not (osp.isdir(ann_dir) and osp.isdir(img_dir)):
        raise FileNotFoundError(
            f'Raccoon photos not found at {root}: expected images/*.jpg and '
            'annotations/*.xml (PASCAL VOC) there. They are not shipped '
            'with mmdet-ohem; pass their folder with --root or set '
            'RACCOON_ROOT (the configs read it too).')
    ids = sorted((osp.splitext(osp.basename(p))[0]
                  for p in glob.glob(osp.join(ann_dir, '*.xml'))),
                 key=natural_key)
    if not ids:
        raise FileNotFoundError(f'No annotations/*.xml under {root}')
    missing = [i for i in ids if not osp.isfile(osp.join(img_dir, i + '.jpg'))]
    if missing:
        raise FileNotFoundError(
            f'{len(missing)} annotated images missing from {img_dir}, e.g. '
            f'{missing[0]}.jpg')
    return ids


def image_digests(root: str, ids: Sequence[str]) -> Dict[str, str]:
    """The SHA-1 of each image file, to find byte-identical photos."""
    digests = {}
    for img_id in ids:
        with open(osp.join(root, 'images', img_id + '.jpg'), 'rb') as f:
            digests[img_id] = hashlib.sha1(f.read()).hexdigest()
    return digests


def split_ids(ids: Sequence[str],
              val_fraction: float = 0.2,
              seed: int = 0,
              groups: Optional[Dict[str, str]] = None
              ) -> Tuple[List[str], List[str]]:
    """Split ``ids`` into train and val, deterministically.

    Ids with the same ``groups`` value (identical photos) are kept on the
    same side. Groups are shuffled with ``random.Random(seed)`` and go to
    val while they fit in ``round(len(ids) * val_fraction)``.

    Args:
        ids (Sequence[str]): All ids.
        val_fraction (float): Share of the ids for val, in (0, 1).
        seed (int): Shuffle seed.
        groups (dict[str, str], optional): A group key per id; ``None``:
            every id alone.

    Returns:
        tuple[list[str], list[str]]: Train and val ids, naturally sorted.

    Raises:
        ValueError: If ``val_fraction`` leaves a side empty.
    """
    num_val = round(len(ids) * val_fraction)
    if not 0 < num_val < len(ids):
        raise ValueError(f'val_fraction={val_fraction} of {len(ids)} ids '
                         'leaves the train or the val split empty')
    by_key: Dict[str, List[str]] = {}
    for img_id in sorted(ids, key=natural_key):
        key = groups[img_id] if groups is not None else img_id
        by_key.setdefault(key, []).append(img_id)
    # Grouped in natural id order first, so the shuffle's input (and so
    # the split) does not depend on the file system's listing order.
    shuffled = list(by_key.values())
    random.Random(seed).shuffle(shuffled)
    train, val = [], []
    for group in shuffled:
        (val if len(val) + len(group) <= num_val else train).extend(group)
    return sorted(train, key=natural_key), sorted(val, key=natural_key)


def prepare(root: str,
            out: str = DEFAULT_OUT,
            val_fraction: float = 0.2,
            seed: int = 0) -> dict:
    """Write ``train.txt`` and ``val.txt`` for the photos under ``root``.

    Args:
        root (str): The raccoon folder.
        out (str): Where to write the two lists (created if needed).
        val_fraction (float): Share of the photos for val.
        seed (int): Split seed.

    Returns:
        dict: ``train``/``val`` (the ids) and ``train_file``/``val_file``.

    Raises:
        FileNotFoundError: If the photos are not at ``root``; nothing is
            written then.
    """
    ids = list_ids(root)
    train, val = split_ids(
        ids, val_fraction, seed, groups=image_digests(root, ids))
    os.makedirs(out, exist_ok=True)
    result = dict(train=train, val=val)
    for name, split in (('train', train), ('val', val)):
        path = osp.join(out, f'{name}.txt')
        with open(path, 'w') as f:
            f.write(''.join(f'{img_id}\n' for img_id in split))
        result[f'{name}_file'] = path
    return result


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        '--root',
        help='the raccoon folder (default: $RACCOON_ROOT, else '
        f'{FALLBACK_ROOT}, as the configs)')
    parser.add_argument(
        '--out',
        default=DEFAULT_OUT,
        help='where to write train.txt and val.txt (default: data/raccoon '
        'in the repository, where configs/benchmarks/raccoon/ read them)')
    parser.add_argument('--val-fraction', type=float, default=0.2)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    if args.root is None:
        args.root = os.environ.get('RACCOON_ROOT') or FALLBACK_ROOT
    return args


def main(argv: Optional[Sequence[str]] = None) -> dict:
    """Write the splits and print what was written; exit 1 without data."""
    args = parse_args(argv)
    try:
        result = prepare(args.root, args.out, args.val_fraction, args.seed)
    except (FileNotFoundError, ValueError) as error:
        print(error, file=sys.stderr)
        sys.exit(1)
    for name in ('train', 'val'):
        print(f'{name}: {len(result[name])} ids -> {result[name + "_file"]}')
    return result


if __name__ == '__main__':
    main(sys.argv[1:])

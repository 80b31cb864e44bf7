"""Writes the synthetic hard-negative detection dataset (COCO format).

Example::

    python tools/data/generate_hard_negatives.py --out data/hard_negatives
"""
import argparse
import sys

from mmdet_ohem.benchmark.hard_negatives import generate


def parse_args(argv=None) -> argparse.Namespace:
    """Parses the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        '--out',
        default='data/hard_negatives',
        help='dataset root (default: %(default)s)')
    parser.add_argument('--n-train', type=int, default=300)
    parser.add_argument('--n-val', type=int, default=100)
    parser.add_argument('--img-size', type=int, default=256)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--force',
        action='store_true',
        help='regenerate even if the dataset is up to date')
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    """Generates the dataset and prints what was written."""
    args = parse_args(argv)
    result = generate(
        args.out,
        n_train=args.n_train,
        n_val=args.n_val,
        img_size=args.img_size,
        seed=args.seed,
        force=args.force)
    verb = 'up to date, kept' if result['skipped'] else 'wrote'
    print(f'{verb} {result["out_dir"]} ({result["params"]})')
    for split in ('train', 'val'):
        s = result[split]
        print(f'  {split}: {s["num_images"]} images in {s["img_dir"]}, '
              f'{s["num_annotations"]} objects, '
              f'{s["num_hard_negatives"]} hard negatives, '
              f'{s["num_empty"]} images without objects -> {s["ann_file"]}')
    return result


if __name__ == '__main__':
    main(sys.argv[1:])

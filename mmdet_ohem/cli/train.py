"""Train a detector: MMDetection 3.3's ``tools/train.py`` with mmdet-ohem.

Same flags and Runner flow as MMDetection's script, plus:

* ``mmdet_ohem`` is always imported, so its modules are registered whether
  or not the config has ``custom_imports``;
* the dataset's annotation files are checked before the model is built,
  so a missing COCO fails in seconds with what to do about it;
* ``--check-data`` (alias ``--check-images``) reads the annotations and
  decodes the images before training (``mmdet_ohem.utils.run_data_check``);
* on machines without CUDA, ``--launcher pytorch`` (``dist_train.sh``)
  runs with the ``gloo`` backend instead of ``nccl``.

Example::

    mmdet-ohem-train my_config.py --check-data
    bash tools/dist_train.sh configs/faster_rcnn_ohem.py 8
"""
import argparse

# Registers mmdet-ohem's modules whatever the config imports; the package
# imports the stack with its known deprecations silenced.
from ..utils import check_dataset_files
from ..utils.data_check import DEFAULT_LOADERS
from ..utils.noise import silence_import_noise
from ..utils.tool_setup import (add_config_args, build_runner,
                                load_tool_config, parse_tool_args)


def parse_args() -> argparse.Namespace:
    """Parse the command line (MMDetection's flags)."""
    parser = argparse.ArgumentParser(description='Train a detector')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--amp',
        action='store_true',
        default=False,
        help='enable automatic-mixed-precision training')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='enable automatically scaling LR.')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='If specify checkpoint path, resume from it, while if not '
        'specify, try to auto resume from the latest checkpoint '
        'in the work directory.')
    add_config_args(parser)
    parser.add_argument(
        '--check-data',
        '--check-images',
        dest='check_data',
        action='store_true',
        help='before training, read the annotations of the train and val '
        'datasets (boxes, categories, ids, image files) and decode every '
        'image as the pipeline will; name each defect with what mmdet would '
        'do with it, and stop if any would change or stop training '
        '(--check-images is an alias)')
    return parse_tool_args(parser)


def main() -> None:
    """Build the Runner from the config and train."""
    # The stack's known deprecations, filtered for this whole run: a tool is
    # a program (the package filters only while it imports the stack).
    silence_import_noise()
    args = parse_args()

    # The config checked (dataset files; --check-data), its custom
    # imports imported and its work dir set, as tools/test.py does.
    cfg = load_tool_config(
        args, check_dataset_files, DEFAULT_LOADERS, what='training')

    # enable automatic-mixed-precision training
    if args.amp is True:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.loss_scale = 'dynamic'

    # enable automatically scaling LR
    if args.auto_scale_lr:
        if 'auto_scale_lr' in cfg and \
                'enable' in cfg.auto_scale_lr and \
                'base_batch_size' in cfg.auto_scale_lr:
            cfg.auto_scale_lr.enable = True
        else:
            raise RuntimeError('Can not find "auto_scale_lr" or '
                               '"auto_scale_lr.enable" or '
                               '"auto_scale_lr.base_batch_size" in your'
                               ' configuration file.')

    # resume is determined in this priority: resume from > auto_resume
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume

    # gloo instead of nccl on machines without CUDA (see the function)
    runner = build_runner(cfg)

    # start training
    runner.train()

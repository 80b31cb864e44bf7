"""Test (and evaluate) a detector: MMDetection 3.3's ``tools/test.py``.

Same flags and Runner flow as MMDetection's script, plus: ``mmdet_ohem`` is
always imported (its modules are registered whatever the config imports),
the test annotations and the checkpoint are checked before the model is
built (``--check-data`` also reads the annotations and decodes the
images), and without CUDA ``--launcher pytorch`` uses ``gloo``.

Example::

    mmdet-ohem-test my_config.py work_dirs/epoch_12.pth
    bash tools/dist_test.sh configs/faster_rcnn_ohem.py epoch_12.pth 8
"""
import argparse
import os.path as osp
import warnings
from copy import deepcopy

from mmengine import ConfigDict
from mmengine.config import Config

# Registers mmdet-ohem's modules whatever the config imports; the package
# imports the stack with its known deprecations silenced.
from ..utils import check_dataset_files
from ..utils.noise import silence_import_noise
from ..utils.tool_setup import (add_config_args, build_runner,
                                load_tool_config, parse_tool_args)


# TODO: support fuse_conv_bn and format_only
def parse_args() -> argparse.Namespace:
    """Parse the command line (MMDetection's flags)."""
    parser = argparse.ArgumentParser(
        description='MMDet test (and eval) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--work-dir',
        help='the directory to save the file containing evaluation metrics')
    parser.add_argument(
        '--out',
        type=str,
        help='dump predictions to a pickle file for offline evaluation')
    parser.add_argument(
        '--show', action='store_true', help='show prediction results')
    parser.add_argument(
        '--show-dir',
        help='directory where painted images will be saved. '
        'If specified, it will be automatically saved '
        'to the work_dir/timestamp/show_dir')
    parser.add_argument(
        '--wait-time', type=float, default=2, help='the interval of show (s)')
    add_config_args(parser)
    parser.add_argument('--tta', action='store_true')
    parser.add_argument(
        '--check-data',
        action='store_true',
        help='before testing, read the test annotations (boxes, categories, '
        'ids, image files) and decode every image as the pipeline will; '
        'name each defect with what mmdet would do with it, and stop if any '
        'would change or stop the evaluation')
    return parse_tool_args(parser)


def check_inputs(cfg: Config, checkpoint: str) -> None:
    """Fail at once if the test annotations or the checkpoint are missing.

    Raises:
        FileNotFoundError: Naming the missing file.
    """
    check_dataset_files(cfg, loaders=('test_dataloader', ))
    if '://' not in checkpoint and not osp.isfile(checkpoint):
        raise FileNotFoundError(f'Checkpoint not found: {checkpoint}')


def main() -> None:
    """Build the Runner from the config and test the checkpoint."""
    # The stack's known deprecations, filtered for this whole run: a tool is
    # a program (the package filters only while it imports the stack).
    silence_import_noise()
    args = parse_args()

    # The config checked (test annotations, the checkpoint; --check-data),
    # its custom imports imported and its work dir set, as tools/train.py.
    cfg = load_tool_config(
        args,
        lambda cfg: check_inputs(cfg, args.checkpoint), ('test_dataloader', ),
        what='the test')
    from mmdet.engine.hooks.utils import trigger_visualization_hook
    from mmdet.evaluation import DumpDetResults

    cfg.load_from = args.checkpoint

    if args.show or args.show_dir:
        cfg = trigger_visualization_hook(cfg, args)

    if args.tta:

        if 'tta_model' not in cfg:
            warnings.warn('Cannot find ``tta_model`` in config, '
                          'we will set it as default.')
            cfg.tta_model = dict(
                type='DetTTAModel',
                tta_cfg=dict(
                    nms=dict(type='nms', iou_threshold=0.5), max_per_img=100))
        if 'tta_pipeline' not in cfg:
            warnings.warn('Cannot find ``tta_pipeline`` in config, '
                          'we will set it as default.')
            test_data_cfg = cfg.test_dataloader.dataset
            while 'dataset' in test_data_cfg:
                test_data_cfg = test_data_cfg['dataset']
            cfg.tta_pipeline = deepcopy(test_data_cfg.pipeline)
            flip_tta = dict(
                type='TestTimeAug',
                transforms=[
                    [
                        dict(type='RandomFlip', prob=1.),
                        dict(type='RandomFlip', prob=0.)
                    ],
                    [
                        dict(
                            type='PackDetInputs',
                            meta_keys=('img_id', 'img_path', 'ori_shape',
                                       'img_shape', 'scale_factor', 'flip',
                                       'flip_direction'))
                    ],
                ])
            cfg.tta_pipeline[-1] = flip_tta
        cfg.model = ConfigDict(**cfg.tta_model, module=cfg.model)
        cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline

    # gloo instead of nccl on machines without CUDA (see the function)
    runner = build_runner(cfg)

    # add `DumpResults` dummy metric
    if args.out is not None:
        assert args.out.endswith(('.pkl', '.pickle')), \
            'The dump file must be a pkl file.'
        runner.test_evaluator.metrics.append(
            DumpDetResults(out_file_path=args.out))

    # start testing
    runner.test()

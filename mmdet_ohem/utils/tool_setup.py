"""The config and Runner set-up ``tools/train.py`` and ``tools/test.py``
share.

MMDetection's two scripts repeat the same steps (read the config, merge
``--cfg-options``, import ``custom_imports``, pick the work dir, build the
Runner); ours add a check of the inputs before anything is built and
``--check-data``. Written once here, so that the two cannot drift.

Online Hard Example Mining: https://arxiv.org/abs/1604.03540
"""
import argparse
import os
import os.path as osp
import sys
from typing import Callable, Optional, Sequence

from mmengine.config import Config, DictAction

from .annotation_check import run_data_check
from .dist import setup_cpu_distributed


def add_config_args(parser: argparse.ArgumentParser) -> None:
    """Add MMDetection's ``--cfg-options`` and ``--launcher`` flags."""
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override some settings in the used config, the key-value pair '
        'in xxx=yyy format will be merged into config file. If the value to '
        'be overwritten is a list, it should be like key="[a,b]" or key=a,b '
        'It also allows nested list/tuple values, e.g. key="[(a,b),(c,d)]" '
        'Note that the quotation marks are necessary and that no white space '
        'is allowed.')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')


def parse_tool_args(parser: argparse.ArgumentParser,
                    argv: Optional[Sequence[str]] = None
                    ) -> argparse.Namespace:
    """Parse with ``--local_rank`` added, and publish it as ``LOCAL_RANK``.

    torch's ``distributed.launch`` passes the rank as ``--local-rank``
    (torch >= 2.0) or ``--local_rank``; mmengine reads the variable.
    """
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def load_tool_config(args: argparse.Namespace,
                     check_inputs: Callable[[Config], None],
                     loaders: Sequence[str], what: str) -> Config:
    """The config of a tool run, checked and with the modules it names.

    In order: read ``args.config`` (``custom_imports`` not yet imported,
    so a missing dataset fails before the slow imports), set
    ``args.launcher``, merge ``args.cfg_options``, ``check_inputs`` (a
    ``FileNotFoundError`` ends the program with its message and status 1),
    import ``custom_imports``, run the data check under
    ``args.check_data``, cap dynamo's recompilations as mmdet's tools do,
    and set the work dir (``--work-dir`` > the config's > the config's
    name under ``./work_dirs``).

    Args:
        args (argparse.Namespace): The tool's flags: ``config``,
            ``launcher``, ``cfg_options``, ``check_data``, ``work_dir``.
        check_inputs (Callable): Raises ``FileNotFoundError`` naming what
            the run would miss.
        loaders (Sequence[str]): The dataloaders ``--check-data`` reads.
        what (str): The run, in ``--check-data``'s message (``'training'``).

    Returns:
        Config: The config, ready for :func:`build_runner`.
    """
    cfg = Config.fromfile(args.config, import_custom_modules=False)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    try:
        check_inputs(cfg)
    except FileNotFoundError as error:
        print(error, file=sys.stderr)
        sys.exit(1)

    from mmengine.utils import import_modules_from_strings
    if cfg.get('custom_imports', None):
        import_modules_from_strings(**cfg['custom_imports'])

    if args.check_data:
        from mmdet.utils import register_all_modules
        register_all_modules()
        if run_data_check(cfg, loaders=tuple(loaders)):
            sys.exit(f'--check-data: {what} would not use the data as '
                     'written; see the errors above')

    try:
        from mmdet.utils import setup_cache_size_limit_of_dynamo
    except ImportError:  # not in every mmdet release
        pass
    else:
        setup_cache_size_limit_of_dynamo()

    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    return cfg


def build_runner(cfg: Config):
    """The Runner of ``cfg``: mmengine's, or the config's ``runner_type``.

    Without CUDA, a distributed launch is set up on ``gloo`` first
    (:func:`setup_cpu_distributed`: mmdet's default_runtime asks for nccl,
    and mmengine does not fall back).
    """
    from mmdet.registry import RUNNERS
    from mmengine.runner import Runner
    setup_cpu_distributed(cfg)
    if 'runner_type' not in cfg:
        return Runner.from_cfg(cfg)
    return RUNNERS.build(cfg)

"""mmdet-ohem: Online Hard Example Mining for MMDetection 3.x.

Importing the package registers its modules in MMDetection's registries
(``MODELS``, ``TASK_UTILS``, ``HOOKS``), so configs under
``default_scope='mmdet'`` name them without a prefix. The shipped configs
are package data: :func:`config_path` gives their path, e.g. for
``python tools/train.py $(python -c "import mmdet_ohem;
print(mmdet_ohem.config_path('faster_rcnn_ohem.py'))")``.
"""
import os.path as osp

from .utils.noise import stack_import_noise_silenced
from .version import __version__

# The stack's import-time deprecations are silenced while it is imported
# here, not for the process: the user's warning filters stay as they were.
with stack_import_noise_silenced():
    from .compat import apply_stack_fixes
    apply_stack_fixes()

    from .hooks import MiningStatsHook, RNGStateHook
    from .mining import MiningSettings, Selection, select_hard_examples
    from .roi_heads import OHEMRoIHead
    from .samplers import (Candidates, LossRankedOHEMSampler, MiningResult,
                           Picks)

CONFIGS = osp.join(osp.dirname(osp.abspath(__file__)), 'configs')


def config_path(name: str) -> str:
    """Absolute path of a shipped config, e.g. ``'faster_rcnn_ohem.py'``
    or ``'benchmarks/bccd/faster-rcnn_r18-tiny_fpn_random_bccd.py'``.

    Raises:
        FileNotFoundError: If no such config is shipped (lists them).
    """
    path = osp.join(CONFIGS, name)
    if not osp.isfile(path):
        import glob
        shipped = sorted(
            osp.relpath(p, CONFIGS)
            for p in glob.glob(osp.join(CONFIGS, '**', '*.py'),
                               recursive=True))
        raise FileNotFoundError(f'no config {name!r} in {CONFIGS}; shipped: '
                                + ', '.join(shipped))
    return path


__all__ = [
    '__version__', 'apply_stack_fixes', 'config_path', 'Candidates',
    'LossRankedOHEMSampler', 'MiningResult', 'MiningSettings',
    'MiningStatsHook', 'OHEMRoIHead', 'Picks', 'RNGStateHook', 'Selection',
    'select_hard_examples'
]

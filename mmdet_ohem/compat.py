"""Fixes for the pinned stack (torch 2.13, mmengine 0.10.7, mmcv 2.1).

Each fix is registered through the library's own extension points, never by
editing site-packages, and each has a test in ``tests/test_compat.py`` that
fails without it.
"""
import os.path as osp
import warnings
from typing import Optional, Union

import torch
from mmengine.runner.checkpoint import CheckpointLoader


def load_from_local(filename: str,
                    map_location: Optional[Union[str, torch.device]] = None
                    ) -> dict:
    """Load a local checkpoint that mmengine itself saved.

    torch >= 2.6 defaults ``torch.load`` to ``weights_only=True``; mmengine
    0.10.7 checkpoints hold ``message_hub`` and ``meta`` objects (numpy
    scalars, ``HistoryBuffer``...) that the safe unpickler refuses, so
    ``--resume`` and ``load_from`` fail with ``UnpicklingError``. Local files
    are the user's own training outputs, so they are loaded in full, as
    torch < 2.6 (and mmengine) always did. Remote checkpoints keep mmengine's
    loaders.

    Args:
        filename (str): Path of the checkpoint file.
        map_location (str or torch.device, optional): As in ``torch.load``.

    Returns:
        dict: The loaded checkpoint.
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    return torch.load(filename, map_location=map_location, weights_only=False)


def apply_stack_fixes() -> None:
    """Install the fixes; safe to call more than once."""
    # '' is mmengine's prefix for local paths (see CheckpointLoader).
    CheckpointLoader.register_scheme(prefixes='', loader=load_from_local,
                                     force=True)
    # mmengine warns on every registry lookup for ``torch.cuda.amp``
    # modules deprecated in torch 2.4+, which buries real warnings.
    warnings.filterwarnings(
        'ignore', category=FutureWarning,
        message=r'.*torch\.cuda\.amp\..*is deprecated.*')

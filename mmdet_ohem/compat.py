"""Fixes for the pinned stack (torch 2.13, mmengine 0.10.7, mmcv 2.1).

Each fix goes through the libraries' own extension points (mmengine's
checkpoint-loader registry, Python's warning filters), never by editing
site-packages, and each has a test in ``tests/test_compat.py`` that fails
without it. :func:`apply_stack_fixes` runs when ``mmdet_ohem`` is imported,
before anything from mmdet is.
"""
import os.path as osp
from typing import Optional, Union

import torch

from .utils.noise import NOISE, silence_import_noise  # noqa: F401


def load_from_local(filename: str,
                    map_location: Optional[Union[str, torch.device]] = None
                    ) -> dict:
    """Load a local checkpoint that mmengine itself saved.

    torch >= 2.6 defaults ``torch.load`` to ``weights_only=True``; mmengine
    0.10.7 checkpoints hold ``message_hub`` and ``meta`` objects (numpy
    scalars, ``HistoryBuffer``, ...) that the safe unpickler refuses, so
    ``--resume`` and ``load_from`` fail with ``UnpicklingError``. Local files
    are the user's own training outputs, so they are unpickled in full, as
    torch < 2.6 did; only load checkpoints you trust. Remote checkpoints keep
    mmengine's loaders.

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
    """Install every fix; safe to call more than once."""
    silence_import_noise()
    from mmengine.runner.checkpoint import CheckpointLoader

    # '' is mmengine's scheme prefix for local paths.
    CheckpointLoader.register_scheme(
        prefixes='', loader=load_from_local, force=True)

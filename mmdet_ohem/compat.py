"""Fixes for the pinned stack (torch 2.13, mmengine 0.10.7, mmcv 2.1).

The one fix that outlives the import is a checkpoint loader for local files,
registered through mmengine's ``CheckpointLoader.register_scheme`` (never by
editing site-packages); it has its tests in ``tests/test_compat.py`` and
``tests/test_safe_checkpoint.py``. :func:`apply_stack_fixes` runs when
``mmdet_ohem`` is imported. Importing the package changes nothing else in
the process (``tests/test_import_side_effects.py``).
"""
import contextlib
import logging
import os
import os.path as osp
import pickle
from typing import Iterator, List, Optional, Union

import torch

# The opt-in for a checkpoint the user trusts: load it in full.
TRUST_ENV = 'MMDET_OHEM_TRUST_CHECKPOINTS'
# Parsed as torch parses its own TORCH_FORCE_*_WEIGHTS_ONLY_LOAD variables
# (case-insensitive); anything else is an error, not a silent "no".
_TRUE = ('1', 'y', 'yes', 'true')
_FALSE = ('', '0', 'n', 'no', 'false')

# What mmengine 0.10.7's HistoryBuffer pickles with getattr: its statistic
# methods (``__getstate__`` saves ``_statistics_methods``).
_HISTORY_BUFFER_STATISTICS = ('min', 'max', 'current', 'mean')


class UntrustedCheckpointError(pickle.UnpicklingError):
    """A local checkpoint holds objects that mmengine checkpoints do not.

    A subclass of :class:`pickle.UnpicklingError`, which callers of
    ``torch.load(weights_only=True)`` already catch.
    """


def trust_checkpoints() -> bool:
    """Whether :data:`TRUST_ENV` asks to unpickle local checkpoints in full.

    Returns:
        bool: True for ``1``, ``y``, ``yes`` or ``true``; False when unset,
        empty, ``0``, ``n``, ``no`` or ``false`` (case-insensitive).

    Raises:
        ValueError: For any other value, so a typo is not read as "no".
    """
    raw = os.environ.get(TRUST_ENV, '')
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f'{TRUST_ENV}={raw!r}: set it to 1 to unpickle local '
                     'checkpoints in full (only files you trust), or unset '
                     'it / set it to 0')


def _history_buffer_statistic(owner: type, name: str):
    """Stands in for ``builtins.getattr`` while a checkpoint is unpickled.

    mmengine pickles ``HistoryBuffer``'s statistic methods as
    ``getattr(HistoryBuffer, 'min')``; a real ``getattr`` in the allow-list
    would let a file reach any attribute of any object it can name, so only
    those lookups are answered.
    """
    from mmengine.logging import HistoryBuffer
    if owner is HistoryBuffer and name in _HISTORY_BUFFER_STATISTICS:
        return getattr(owner, name)
    raise pickle.UnpicklingError(
        f'getattr({owner!r}, {name!r}) is not a lookup mmengine checkpoints '
        f'hold (HistoryBuffer.{"/".join(_HISTORY_BUFFER_STATISTICS)})')


def checkpoint_safe_globals() -> List[Union[type, tuple]]:
    """The allow-list: the non-tensor types mmengine 0.10.7 checkpoints hold.

    Found by ``torch.serialization.get_unsafe_globals_in_checkpoint`` on
    checkpoints of a real training run (``--resume`` and ``load_from``):
    ``message_hub`` holds ``HistoryBuffer`` (numpy arrays, its statistic
    methods) and numpy scalars, ``meta`` numpy scalars and RNG states
    (arrays). numpy's reconstructors are listed under numpy 2's and numpy
    1's module names, so checkpoints written with either load.

    Returns:
        list: Entries for ``torch.serialization.safe_globals``.
    """
    import numpy as np
    from mmengine.logging import HistoryBuffer
    try:
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct, scalar
    # Unpickling a dtype builds an instance of its class (Float64DType...).
    dtype_classes = [
        type(np.dtype(t)) for t in (np.bool_, np.int8, np.int16, np.int32,
                                    np.int64, np.uint8, np.uint16, np.uint32,
                                    np.uint64, np.float16, np.float32,
                                    np.float64, np.complex64, np.complex128)
    ]
    renamed = [(func, f'{module}.multiarray.{func.__name__}')
               for func in (_reconstruct, scalar)
               for module in ('numpy._core', 'numpy.core')]
    return [HistoryBuffer, np.ndarray, np.dtype, *dtype_classes, *renamed,
            (_history_buffer_statistic, 'builtins.getattr')]


@contextlib.contextmanager
def checkpoint_globals_allowed() -> Iterator[None]:
    """Allow :func:`checkpoint_safe_globals` for the block only.

    ``torch.serialization.safe_globals`` rather than ``add_safe_globals``:
    the allow-list must not widen the user's own ``torch.load`` calls after
    the checkpoint is read. Entries the user had allowed already are left
    out, as ``safe_globals`` removes its entries on exit.
    """
    present = torch.serialization.get_safe_globals()
    missing = [g for g in checkpoint_safe_globals() if g not in present]
    with torch.serialization.safe_globals(missing):
        yield


def _refusal(filename: str, error: Exception) -> str:
    """The message of :class:`UntrustedCheckpointError` for ``filename``."""
    try:
        with checkpoint_globals_allowed():
            refused = sorted(
                torch.serialization.get_unsafe_globals_in_checkpoint(filename))
    except Exception:  # not a zip checkpoint: torch's reason must do
        refused = []
    if refused:
        what = 'it holds ' + ', '.join(refused)
    else:  # an allowed name misused: torch's reason, without its advice
        what = str(error).split('WeightsUnpickler error:')[-1]
        what = what.split('Check the documentation')[0].strip()
    return (f'refused to load checkpoint {filename}: {what}, which '
            'mmengine checkpoints do not hold and whose unpickling can run '
            'code. If you trust this file, load it in full with '
            f'{TRUST_ENV}=1 in the environment.')


def load_from_local(filename: str,
                    map_location: Optional[Union[str, torch.device]] = None
                    ) -> dict:
    """Load a local checkpoint: mmengine's types only, unless trusted.

    torch >= 2.6 loads ``weights_only=True`` by default, which refuses the
    ``message_hub`` and ``meta`` of mmengine 0.10.7's own checkpoints, so
    ``--resume`` and ``load_from`` fail. This loader keeps torch's
    weights-only unpickler and allows exactly the types those checkpoints
    hold (:func:`checkpoint_safe_globals`). Any other object is refused
    before it is built, unless :data:`TRUST_ENV` is set (then the file is
    unpickled in full, with a warning in the log).

    Args:
        filename (str): Path of the checkpoint file.
        map_location (str or torch.device, optional): As in ``torch.load``.

    Returns:
        dict: The loaded checkpoint.

    Raises:
        FileNotFoundError: If there is no such file.
        UntrustedCheckpointError: If the file holds other objects and
            :data:`TRUST_ENV` is not set; the message names the file, the
            refused globals and the opt-in.
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    trusted = trust_checkpoints()  # a bad value fails before any load
    try:
        with checkpoint_globals_allowed():
            return torch.load(
                filename, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        if not trusted:
            # One message; torch's advice (weights_only=False, add globals)
            # would have the user edit mmengine's code.
            raise UntrustedCheckpointError(_refusal(filename,
                                                    error)) from None
    from mmengine.logging import print_log
    print_log(
        f'{filename}: unpickled in full ({TRUST_ENV} is set); it holds '
        'objects mmengine checkpoints do not.',
        logger='current',
        level=logging.WARNING)
    return torch.load(filename, map_location=map_location, weights_only=False)


def apply_stack_fixes() -> None:
    """Install every fix; safe to call more than once."""
    from mmengine.runner.checkpoint import CheckpointLoader

    # '' is mmengine's scheme prefix for local paths.
    CheckpointLoader.register_scheme(
        prefixes='', loader=load_from_local, force=True)

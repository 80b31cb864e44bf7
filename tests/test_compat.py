"""Each stack fix, with the failure it prevents shown first."""
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import _load_checkpoint

import mmdet_ohem  # noqa: F401


@pytest.fixture
def mmengine_checkpoint(tmp_path):
    """A checkpoint with the objects mmengine's Runner.save_checkpoint puts
    into ``message_hub`` and ``meta``."""
    path = tmp_path / 'epoch_1.pth'
    torch.save(
        dict(
            meta=dict(epoch=1, seed=np.int64(3)),
            state_dict=dict(w=torch.ones(2)),
            message_hub=dict(
                log_scalars=dict(loss=HistoryBuffer([1., 2.], [1, 1])))),
        path)
    return str(path)


def test_torch_refuses_mmengine_checkpoint_by_default(mmengine_checkpoint):
    # The failure the fix is for: torch >= 2.6 loads weights only.
    with pytest.raises(pickle.UnpicklingError, match='Weights only load'):
        torch.load(mmengine_checkpoint)


def test_mmengine_loads_its_own_checkpoint(mmengine_checkpoint):
    ckpt = _load_checkpoint(mmengine_checkpoint, map_location='cpu')
    assert ckpt['meta']['seed'] == 3
    assert torch.equal(ckpt['state_dict']['w'], torch.ones(2))
    assert ckpt['message_hub']['log_scalars']['loss'].mean() == 1.5


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        _load_checkpoint(str(tmp_path / 'nope.pth'))


def _import_warnings(code: str) -> str:
    out = subprocess.run([sys.executable, '-W', 'always', '-c', code],
                         capture_output=True, text=True, check=True)
    return out.stderr


def test_import_noise_is_silenced():
    noisy = _import_warnings('import mmdet.models')
    assert 'torch.jit.script` is deprecated' in noisy
    # Silenced while mmdet_ohem imports the stack, with no filter left
    # behind (tests/test_import_side_effects.py).
    quiet = _import_warnings('import mmdet_ohem, mmdet.models')
    assert 'is deprecated' not in quiet

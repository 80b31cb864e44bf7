"""tools/check_ops.py: the install's last check, CUDA included."""
import pytest
import torch

from helpers import load_tool

check_ops = load_tool('check_ops')


def test_the_cpu_ops_pass(capsys):
    assert check_ops.main() == 0
    assert 'ops checked on cpu' in capsys.readouterr().out


def test_an_mmcv_without_cuda_kernels_fails_clearly(monkeypatch, capsys):
    if torch.cuda.is_available():
        pytest.skip('a GPU is here: the real CUDA check runs above')
    # torch claims a GPU; the ops cannot run there (no kernels, no device).
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    assert check_ops.main() == 1
    err = capsys.readouterr().err
    assert 'FAILED: mmcv compiled ops do not work on cuda' in err
    assert 'FORCE_CUDA=1' in err and 'TORCH_CUDA_ARCH_LIST' in err

"""Local checkpoints load with torch's weights-only unpickler plus exactly
mmengine's types; anything else is refused unless the user opts in."""
import os.path as osp
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.runner.checkpoint import CheckpointLoader, _load_checkpoint

from mmdet_ohem import compat
from mmdet_ohem.benchmark.hard_negatives import generate
from helpers import CONFIG, ROOT, finish, loader_spy_env, tiny_options

# mmdet's own script, shipped in its package data (not in mmdet_ohem).
MMDET_TRAIN = osp.join(osp.dirname(__import__('mmdet').__file__), '.mim',
                       'tools', 'train.py')
SPIED = 'loader spy: mmdet_ohem.compat.load_from_local loaded '


class CreatesFile:
    """Unpickled, opens (creates) ``path`` for writing: code run by a load."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return open, (self.path, 'w')


class ReadsGlobals:
    """Unpickled, ``getattr(fn, '__globals__')``: a module's namespace, which
    SETITEM could then rewrite; the allowed name ``getattr`` misused."""

    def __reduce__(self):
        return getattr, (torch._utils._rebuild_tensor_v2, '__globals__')


@pytest.fixture(autouse=True)
def untrusted(monkeypatch):
    """Every test starts without the opt-in, whatever the shell sets."""
    monkeypatch.delenv(compat.TRUST_ENV, raising=False)


def save_with(obj, path) -> str:
    """An mmengine-like checkpoint whose ``meta`` also holds ``obj``."""
    torch.save(dict(meta=dict(epoch=1, seed=np.int64(3), extra=obj),
                    state_dict=dict(w=torch.ones(2))), str(path))
    return str(path)


def test_local_loader_is_the_safe_one():
    assert CheckpointLoader._schemes[''] is compat.load_from_local


def test_code_in_a_checkpoint_is_refused_unless_trusted(
        tmp_path, monkeypatch):
    created = tmp_path / 'created_by_unpickling'
    path = save_with(CreatesFile(str(created)), tmp_path / 'evil.pth')
    with pytest.raises(compat.UntrustedCheckpointError) as error:
        _load_checkpoint(path, map_location='cpu')  # mmengine's entry point
    assert not created.exists()
    message = str(error.value)
    assert path in message  # the file,
    assert 'io.open' in message  # the refused global, the opt-in:
    assert 'MMDET_OHEM_TRUST_CHECKPOINTS=1' in message
    # One error: torch's own (with its advice to edit the call) not chained.
    assert error.value.__cause__ is None
    assert error.value.__suppress_context__
    assert isinstance(error.value, pickle.UnpicklingError)

    monkeypatch.setenv(compat.TRUST_ENV, '1')
    ckpt = _load_checkpoint(path, map_location='cpu')
    ckpt['meta']['extra'].close()
    assert created.exists()  # the opt-in unpickles in full
    assert torch.equal(ckpt['state_dict']['w'], torch.ones(2))


def test_getattr_is_answered_for_history_buffer_only(tmp_path):
    path = save_with(ReadsGlobals(), tmp_path / 'globals.pth')
    with pytest.raises(compat.UntrustedCheckpointError,
                       match=r"getattr\(<function _rebuild_tensor_v2.*"
                       r"'__globals__'\) is not a lookup mmengine "
                       r'checkpoints hold.*MMDET_OHEM_TRUST_CHECKPOINTS=1'):
        _load_checkpoint(path, map_location='cpu')


@pytest.mark.parametrize('value,trusted', [('1', True), ('TRUE', True),
                                           ('yes', True), ('', False),
                                           ('0', False), ('No', False)])
def test_trust_values(monkeypatch, value, trusted):
    monkeypatch.setenv(compat.TRUST_ENV, value)
    assert compat.trust_checkpoints() is trusted


def test_unknown_trust_value_is_an_error(monkeypatch, tmp_path):
    monkeypatch.setenv(compat.TRUST_ENV, 'ture')
    path = save_with(1, tmp_path / 'plain.pth')
    with pytest.raises(ValueError,
                       match="MMDET_OHEM_TRUST_CHECKPOINTS='ture'"):
        _load_checkpoint(path)


def test_allow_list_does_not_leak(tmp_path):
    from mmengine.logging import HistoryBuffer
    path = save_with(HistoryBuffer([1., 2.], [1, 1]), tmp_path / 'hub.pth')
    before = set(torch.serialization.get_safe_globals())
    # An entry the user allowed already stays allowed after a load.
    with torch.serialization.safe_globals([np.dtype]):
        ckpt = _load_checkpoint(path, map_location='cpu')
        assert np.dtype in torch.serialization.get_safe_globals()
    assert ckpt['meta']['extra'].mean() == 1.5
    assert set(torch.serialization.get_safe_globals()) == before
    # The user's own torch.load keeps torch's default allow-list.
    with pytest.raises(pickle.UnpicklingError, match='not an allowed global'):
        torch.load(path)


@pytest.fixture(scope='module')
def tiny_run(tmp_path_factory) -> tuple:
    """Data, and a config for mmdet's own ``tools/train.py`` that imports
    mmdet_ohem (and the loader spy) through ``custom_imports``."""
    folder = tmp_path_factory.mktemp('mmdet_train')
    data = str(folder / 'data')
    generate(data, n_train=4, n_val=2, img_size=128, seed=0)
    config = folder / 'tiny_ohem.py'
    config.write_text(
        f'_base_ = {CONFIG!r}\n'
        "custom_imports = dict(imports=['mmdet_ohem', 'ohem_loader_spy'], "
        'allow_failed_imports=False)\n')
    return str(config), data + '/', loader_spy_env(folder)


def mmdet_train(tiny_run, work_dir, max_iters: int, *args: str,
                load_from: str = None) -> subprocess.Popen:
    """Start mmdet's ``tools/train.py`` on :func:`tiny_run`."""
    config, data, env = tiny_run
    more = [f'load_from={load_from}'] if load_from else []
    cmd = [sys.executable, MMDET_TRAIN, config, '--work-dir', str(work_dir),
           *args, '--cfg-options', *tiny_options(data, max_iters), *more]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def test_mmdet_train_resumes_and_loads_from_safely(tiny_run, tmp_path):
    finish(mmdet_train(tiny_run, tmp_path / 'first', 2))
    checkpoint = str(tmp_path / 'first' / 'iter_2.pth')
    with pytest.raises(pickle.UnpicklingError):  # needs the allow-list
        torch.load(checkpoint)
    ckpt = torch.load(checkpoint, weights_only=False)
    ckpt['meta']['extra'] = CreatesFile(str(tmp_path / 'created'))
    evil = str(tmp_path / 'evil.pth')
    torch.save(ckpt, evil)

    # Side by side (two cores): resume, load_from, and a resume of the
    # doctored copy, which must stop before anything in it runs.
    runs = [
        mmdet_train(tiny_run, tmp_path / 'resumed', 3, '--resume',
                    checkpoint),
        mmdet_train(tiny_run, tmp_path / 'fine_tuned', 1,
                    load_from=checkpoint),
        mmdet_train(tiny_run, tmp_path / 'refused', 3, '--resume', evil),
    ]
    resumed, fine_tuned = finish(runs[0]), finish(runs[1])
    refused, _ = runs[2].communicate(timeout=300)

    assert SPIED + checkpoint in resumed
    assert 'resumed epoch: 0, iter: 2' in resumed
    assert 'Iter(train) [3/3]' in resumed
    assert SPIED + checkpoint in fine_tuned
    assert 'Load checkpoint from ' + checkpoint in fine_tuned
    assert 'Iter(train) [1/1]' in fine_tuned and 'resumed' not in fine_tuned

    assert runs[2].returncode != 0
    assert not (tmp_path / 'created').exists()
    assert f'UntrustedCheckpointError: refused to load checkpoint {evil}: ' \
        'it holds io.open' in refused
    assert 'MMDET_OHEM_TRUST_CHECKPOINTS=1' in refused
    assert SPIED not in refused

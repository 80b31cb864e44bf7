"""mmdet_ohem.utils.provenance: commit, dirty tree, versions, CPU, hash."""
import hashlib
import re
import shutil
import subprocess

import pytest

from mmdet_ohem.utils import provenance

needs_git = pytest.mark.skipif(shutil.which('git') is None, reason='no git')


def git(repo, *args):
    subprocess.run(['git', '-C', str(repo), *args], check=True,
                   capture_output=True)


@pytest.fixture
def repo(tmp_path):
    git(tmp_path, 'init', '-q')
    git(tmp_path, 'config', 'user.email', 'a@b.c')
    git(tmp_path, 'config', 'user.name', 'a')
    (tmp_path / '.gitignore').write_text('work_dirs/\n')
    (tmp_path / 'a.py').write_text('x = 1\n')
    git(tmp_path, 'add', '.')
    git(tmp_path, 'commit', '-q', '-m', 'first')
    return tmp_path


@needs_git
def test_clean_then_dirty(repo):
    commit, dirty = provenance.git_state(str(repo))
    head = subprocess.run(['git', '-C', str(repo), 'rev-parse', 'HEAD'],
                          capture_output=True, text=True).stdout.strip()
    assert re.fullmatch(r'[0-9a-f]{40}', commit) and commit == head
    assert dirty is False
    # ignored output (a run's work dir) leaves the tree clean
    (repo / 'work_dirs').mkdir()
    (repo / 'work_dirs' / 'x.log').write_text('log')
    assert provenance.git_state(str(repo)) == (head, False)
    (repo / 'a.py').write_text('x = 2\n')
    assert provenance.git_state(str(repo)) == (head, True)
    git(repo, 'checkout', '--', 'a.py')
    (repo / 'new_config.py').write_text('y = 1\n')  # untracked code counts
    assert provenance.git_state(str(repo)) == (head, True)
    (repo / 'new_config.py').unlink()
    # results a run wrote (the outputs folder) do not make the code dirty
    (repo / 'results').mkdir()
    (repo / 'results' / 'bccd_scratch.json').write_text('{}')
    assert provenance.git_state(str(repo)) == (head, True)
    assert provenance.git_state(str(repo), ['results']) == (head, False)


def test_outside_a_repository(tmp_path):
    assert provenance.git_state(str(tmp_path)) == (None, None)


def test_versions_cpu_and_environment(repo, monkeypatch):
    import mmdet
    import mmengine
    import torch
    found = provenance.versions()
    assert set(found) == {'python', 'torch', 'mmcv', 'mmdet', 'mmengine',
                          'mmdet_ohem'}
    assert found['torch'] and torch.__version__.startswith(found['torch'])
    assert found['mmdet'] == mmdet.__version__
    assert found['mmengine'] == mmengine.__version__
    assert re.fullmatch(r'\d+\.\d+\.\d+.*', found['python'])
    cpu = provenance.cpu_model()
    assert isinstance(cpu, str) and cpu and ':' not in cpu
    monkeypatch.setenv('OMP_NUM_THREADS', '3')
    env = provenance.environment(str(repo))
    assert env['threads'] == 3
    assert provenance.environment(str(repo), threads=1)['threads'] == 1
    assert env['hostname_hash'] is None
    assert env['dirty'] is (False if shutil.which('git') else None)


def test_file_sha256(tmp_path):
    path = tmp_path / 'cfg.py'
    path.write_bytes(b'a = 1\n' * 100000)
    assert provenance.file_sha256(str(path)) == hashlib.sha256(
        b'a = 1\n' * 100000).hexdigest()

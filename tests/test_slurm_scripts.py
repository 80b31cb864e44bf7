"""The launch scripts' argument handling, without a cluster.

``tools/slurm_{train,test}.sh`` run with a fake ``srun`` (it records its
argv and exits 3) or none on the PATH; ``tools/dist_{train,test}.sh`` with a
fake ``PYTHON`` that records the torchrun arguments. Nothing trains.
"""
import os.path as osp
import shlex
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional

import pytest

from mmdet_ohem.cli import test as test_program
from mmdet_ohem.cli import train as train_program
from helpers import load_tool

PROGRAMS = dict(train=train_program, test=test_program)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOOLS = osp.join(ROOT, 'tools')
BASH = shutil.which('bash')
# The only programs the scripts run besides srun (the rest are builtins).
UTILS = ('dirname', 'cat')

# Records its argv one per line and the PYTHONPATH it was given; exits 3
# so that the test sees the script return srun's status.
FAKE = """#!{bash}
printf '%s\\n' "$@" > "{marker}"
printf '%s\\n' "${{PYTHONPATH:-}}" > "{marker}.pythonpath"
exit 3
"""

# script -> (the 4th positional, the python tool, its args after CONFIG)
SLURM = {
    'slurm_train.sh': ('work dirs/ohem', 'train.py',
                       ['--work-dir=work dirs/ohem']),
    'slurm_test.sh': ('work dirs/epoch_12.pth', 'test.py',
                      ['work dirs/epoch_12.pth']),
}
CONFIG = 'configs/my ohem.py'  # a space: the quoting must survive
ENV = dict(GPUS='16', GPUS_PER_NODE='8', CPUS_PER_TASK='4',
           SRUN_ARGS='--quotatype=auto --time=1:00:00')


def write_fake(path: Path, marker: Path) -> None:
    path.write_text(FAKE.format(bash=BASH, marker=marker))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


@pytest.fixture
def bins(tmp_path: Path) -> Dict[str, Path]:
    """``bare``: the scripts' utilities only; ``srun``: those and a fake
    srun; ``marker``: the file the fake writes when it is called."""
    bare, fake = tmp_path / 'bare', tmp_path / 'fake'
    bare.mkdir()
    fake.mkdir()
    for util in UTILS:
        (bare / util).symlink_to(shutil.which(util))
        (fake / util).symlink_to(shutil.which(util))
    marker = tmp_path / 'srun_called'
    write_fake(fake / 'srun', marker)
    return dict(bare=bare, srun=fake, marker=marker)


def run(script: str, args: List[str], path: Path,
        env: Optional[Dict[str, str]] = None) -> subprocess.CompletedProcess:
    """``bash tools/<script> args`` with ``path`` as the whole PATH."""
    full = dict(PATH=str(path), PYTHON='python3')
    full.update(env or {})
    return subprocess.run([BASH, osp.join(TOOLS, script), *args],
                          env=full, capture_output=True, text=True,
                          timeout=30)


def expected_srun(script: str) -> List[str]:
    """The srun argv for ``ENV``, the positionals and ``--cfg-options``."""
    _, tool, tool_args = SLURM[script]
    return [
        'srun', '-p', 'gpu', '--job-name=ohem run', '--gres=gpu:8',
        '--ntasks=16', '--ntasks-per-node=8', '--cpus-per-task=4',
        '--kill-on-bad-exit=1', '--quotatype=auto', '--time=1:00:00',
        'python3', '-u', osp.join(TOOLS, tool), CONFIG, *tool_args,
        '--launcher=slurm', '--cfg-options', 'a=1'
    ]


def full_args(script: str) -> List[str]:
    return ['gpu', 'ohem run', CONFIG, SLURM[script][0],
            '--cfg-options', 'a=1']


@pytest.mark.parametrize('script', sorted(SLURM))
@pytest.mark.parametrize('nargs', [0, 3])
def test_missing_args_print_usage(script, nargs, bins):
    out = run(script, full_args(script)[:nargs], bins['srun'])
    assert out.returncode == 2, out
    assert f'got {nargs} argument(s)' in out.stderr
    assert 'usage:' in out.stderr
    assert 'PARTITION JOB_NAME CONFIG ' + (
        'WORK_DIR' if 'train' in script else 'CHECKPOINT') in out.stderr
    assert not bins['marker'].exists()


@pytest.mark.parametrize('script', sorted(SLURM))
def test_help_is_usage_on_stdout(script, bins):
    out = run(script, ['--help'], bins['bare'])
    assert out.returncode == 0, out
    assert out.stdout.startswith('usage:') and 'DRY_RUN=1' in out.stdout


@pytest.mark.parametrize('script', sorted(SLURM))
def test_without_srun_says_so(script, bins):
    assert shutil.which('srun', path=str(bins['bare'])) is None
    out = run(script, full_args(script), bins['bare'], ENV)
    assert out.returncode == 127, out
    assert out.stderr.startswith(
        'srun not found: these scripts submit through SLURM; on a machine '
        'without it use tools/dist_' + script.split('_')[1])
    assert out.stdout == ''


@pytest.mark.parametrize('script', sorted(SLURM))
def test_dry_run_prints_the_command_and_runs_nothing(script, bins):
    out = run(script, full_args(script), bins['srun'],
              dict(ENV, DRY_RUN='1'))
    assert out.returncode == 0, out
    assert not bins['marker'].exists(), 'dry run called srun'
    # One shell line, copy-pasteable: the prefix sets PYTHONPATH.
    assert out.stdout.count('\n') == 1
    words = shlex.split(out.stdout)
    assert words[0] == f'PYTHONPATH={TOOLS}/..'
    assert words[1:] == expected_srun(script)
    # The same line without srun installed: a dry run needs no cluster.
    bare = run(script, full_args(script), bins['bare'],
               dict(ENV, DRY_RUN='1'))
    assert (bare.returncode, bare.stdout) == (0, out.stdout)


@pytest.mark.parametrize('script', sorted(SLURM))
def test_srun_gets_the_dry_run_command(script, bins):
    out = run(script, full_args(script), bins['srun'], ENV)
    assert out.returncode == 3, out  # srun's status, through exec
    called = bins['marker'].read_text().splitlines()
    assert called == expected_srun(script)[1:]
    assert Path(f"{bins['marker']}.pythonpath").read_text() == \
        f'{TOOLS}/..\n'
    # The command is echoed before it runs, as mmdet's set -x does.
    assert shlex.split(out.stderr.splitlines()[-1]) == \
        ['+'] + expected_srun(script)


def test_defaults_are_mmdet_s(bins):
    out = run('slurm_train.sh', ['p', 'j', 'c.py', 'w'], bins['srun'],
              dict(DRY_RUN='1'))
    assert out.returncode == 0, out
    words = shlex.split(out.stdout)[1:]
    assert words[4:9] == [
        '--gres=gpu:8', '--ntasks=8', '--ntasks-per-node=8',
        '--cpus-per-task=5', '--kill-on-bad-exit=1'
    ]
    assert words[9:] == [
        'python3', '-u', osp.join(TOOLS, 'train.py'), 'c.py', '--work-dir=w',
        '--launcher=slurm'
    ]


@pytest.mark.parametrize('name,value', [('GPUS', '0'),
                                        ('GPUS_PER_NODE', 'eight'),
                                        ('CPUS_PER_TASK', '-1')])
def test_bad_counts_are_refused(name, value, bins):
    out = run('slurm_train.sh', ['p', 'j', 'c.py', 'w'], bins['srun'],
              {name: value})
    assert out.returncode == 2, out
    assert f"{name} must be a positive integer, got '{value}'" in out.stderr
    assert not bins['marker'].exists()


@pytest.mark.parametrize('tool', ['train', 'test'])
def test_tools_parse_the_srun_arguments(tool, monkeypatch):
    """tools/train.py and tools/test.py accept what the scripts pass."""
    script = f'slurm_{tool}.sh'
    argv = expected_srun(script)[13:]  # from the tool's path on
    monkeypatch.setattr(sys, 'argv', argv)
    monkeypatch.delenv('LOCAL_RANK', raising=False)
    # the script runs the package's program
    assert load_tool(tool).main is PROGRAMS[tool].main
    args = PROGRAMS[tool].parse_args()
    assert args.launcher == 'slurm' and args.config == CONFIG
    assert args.cfg_options == {'a': 1}
    if tool == 'train':
        assert args.work_dir == 'work dirs/ohem'
    else:
        assert args.checkpoint == 'work dirs/epoch_12.pth'


@pytest.mark.parametrize('script,positionals,tool', [
    ('dist_train.sh', ['c.py', '4'], 'train.py'),
    ('dist_test.sh', ['c.py', 'e.pth', '4'], 'test.py'),
])
def test_dist_scripts_forward_the_node_settings(script, positionals, tool,
                                                tmp_path):
    """NNODES, NODE_RANK, MASTER_ADDR and PORT reach torchrun."""
    marker = tmp_path / 'python_called'
    write_fake(tmp_path / 'python', marker)
    env = dict(PYTHON=str(tmp_path / 'python'), NNODES='2', NODE_RANK='1',
               MASTER_ADDR='10.0.0.1', PORT='29501')
    out = run(script, positionals + ['--work-dir', 'w'],
              Path(osp.dirname(shutil.which('dirname'))), env)
    assert out.returncode == 3, out
    assert marker.read_text().splitlines() == [
        '-m', 'torch.distributed.run', '--nnodes=2', '--node_rank=1',
        '--master_addr=10.0.0.1', '--nproc_per_node=4', '--master_port=29501',
        osp.join(TOOLS, tool), *positionals[:-1], '--launcher', 'pytorch',
        '--work-dir', 'w'
    ]

"""tools/device_check.sh end to end on the CPU (DRY_RUN=1).

Every step but the mmcv CUDA build and the CUDA tests: the kit install
(wheels for another Python are skipped), the ops check, the benchmark on
the small model and a 4-iteration training run, with the results file.
The kit is ``../shared/device-kit`` beside the checkout, or ``KIT_DIR``.
"""
import os
import os.path as osp
import subprocess
import sys

from helpers import require

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
KIT = os.environ.get('KIT_DIR',
                     osp.join(ROOT, '..', 'shared', 'device-kit'))


def test_dry_run_writes_the_results_file(tmp_path):
    require(osp.isdir(KIT), f'no device kit at {KIT}')
    env = dict(os.environ, DRY_RUN='1', PY=sys.executable, KIT_DIR=KIT,
               TARGET_DIR=str(tmp_path / 'site'),
               OUT_DIR=str(tmp_path / 'out'))
    proc = subprocess.run(['bash', osp.join(ROOT, 'tools',
                                            'device_check.sh')],
                          cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = (tmp_path / 'out' / 'device_check.md').read_text()
    assert 'ops: OK' in results and 'ops checked on cpu' in results
    assert 'GPU tests: not run (DRY_RUN)' in results
    for variant in ('random-512', 'mmdet-ohem-512', 'head-512', 'head-64'):
        assert f'| {variant} |' in results, variant
    assert 'training float32 4 iterations: loss:' in results
    assert (tmp_path / 'out' / 'bench_cpu.json').is_file()
    # mmengine, mmdet and their pure-Python requirements came from the kit.
    assert (tmp_path / 'site' / 'mmdet').is_dir()

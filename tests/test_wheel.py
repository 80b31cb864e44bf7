"""A built wheel works without the repository: configs, registration."""
import glob
import os
import os.path as osp
import subprocess
import sys
import textwrap

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

USE_THE_WHEEL = textwrap.dedent('''
    import glob
    import os.path as osp
    import sys

    from mmengine.config import Config
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules

    import mmdet_ohem
    site = sys.argv[1]
    assert mmdet_ohem.__file__.startswith(site), mmdet_ohem.__file__
    path = mmdet_ohem.config_path('faster_rcnn_ohem.py')
    assert path.startswith(site), path
    # As mmdet's tools/train.py: the config's custom_imports register it.
    cfg = Config.fromfile(path)
    assert cfg.custom_imports.imports == ['mmdet_ohem']
    register_all_modules()
    model = MODELS.build(cfg.model)
    print(type(model.roi_head).__name__,
          type(model.roi_head.bbox_sampler).__name__)
    for name in mmdet_ohem.__all__:
        getattr(mmdet_ohem, name)
    print(len(glob.glob(osp.join(mmdet_ohem.CONFIGS, '**', '*.py'),
                        recursive=True)))
''')


def run(*cmd, **kwargs):
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                         **kwargs)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    return out.stdout


def test_the_wheel_ships_configs_and_registers(tmp_path):
    run(sys.executable, '-m', 'pip', 'wheel', '--no-deps',
        '--no-build-isolation', '-q', '-w', str(tmp_path / 'dist'), ROOT)
    wheel, = glob.glob(str(tmp_path / 'dist' / 'mmdet_ohem-*.whl'))
    site = tmp_path / 'site'
    run(sys.executable, '-m', 'pip', 'install', '-q', '--no-deps',
        '--target', str(site), wheel)
    # Elsewhere than the repository, with the wheel's copy first.
    env = dict(os.environ, PYTHONPATH=str(site))
    out = run(sys.executable, '-c', USE_THE_WHEEL, str(site), cwd=tmp_path,
              env=env)
    lines = out.strip().splitlines()
    assert lines[-2] == 'OHEMRoIHead LossRankedOHEMSampler'
    shipped = glob.glob(osp.join(ROOT, 'mmdet_ohem', 'configs', '**',
                                 '*.py'), recursive=True)
    assert int(lines[-1]) == len(shipped) > 10
    # The tools travel as console scripts: a wheel user has no tools/.
    for name in ('train', 'test'):
        script = str(site / 'bin' / f'mmdet-ohem-{name}')
        assert '--check-data' in run(script, '--help', cwd=tmp_path,
                                     env=env)
    # Without COCO in ./data/coco: the input check stops it at once (the
    # entry config where USE_THE_WHEEL found it: in the wheel's copy).
    entry_config = site / 'mmdet_ohem' / 'configs' / 'faster_rcnn_ohem.py'
    missing = subprocess.run(
        [str(site / 'bin' / 'mmdet-ohem-train'),
         str(entry_config)],
        capture_output=True, text=True, timeout=600, cwd=tmp_path, env=env)
    assert missing.returncode == 1, missing.stderr[-2000:]
    assert 'data/coco' in missing.stderr

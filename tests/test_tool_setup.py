"""The config set-up tools/train.py and tools/test.py share."""
import argparse

import pytest

from mmdet_ohem.utils.tool_setup import load_tool_config


def _args(config, **kwargs):
    values = dict(config=str(config), launcher='none', cfg_options=None,
                  check_data=False, work_dir=None)
    values.update(kwargs)
    return argparse.Namespace(**values)


@pytest.fixture
def config(tmp_path):
    path = tmp_path / 'my-config.py'
    path.write_text("a = dict(b=1)\n")
    return path


def test_options_merged_and_work_dir_chosen(config, monkeypatch, tmp_path):
    seen = []
    cfg = load_tool_config(
        _args(config, cfg_options={'a.b': 2}), seen.append, (), 'training')
    # the check sees the merged config, before anything is imported
    assert seen == [cfg] and cfg.a.b == 2
    assert cfg.launcher == 'none'
    # no --work-dir, none in the config: the config's name
    assert cfg.work_dir == './work_dirs/my-config'
    cfg = load_tool_config(
        _args(config, work_dir=str(tmp_path / 'w')), lambda c: None, (),
        'training')
    assert cfg.work_dir == str(tmp_path / 'w')
    config.write_text("a = dict(b=1)\nwork_dir = 'mine'\n")
    cfg = load_tool_config(_args(config), lambda c: None, (), 'training')
    assert cfg.work_dir == 'mine'


def test_a_missing_input_ends_the_program_with_its_message(config, capsys):

    def check(cfg):
        raise FileNotFoundError('Checkpoint not found: x.pth')

    with pytest.raises(SystemExit) as exit_info:
        load_tool_config(_args(config), check, (), 'the test')
    assert exit_info.value.code == 1
    assert 'Checkpoint not found: x.pth' in capsys.readouterr().err

"""The sampler and the hooks refuse keys they do not use, naming the closest
valid one, through every path a config takes to build them."""
import copy
import os.path as osp
from types import SimpleNamespace

import pytest
from mmdet.registry import HOOKS, MODELS
from mmengine.config import Config
from mmengine.runner import Runner

from mmdet_ohem.testing import ohem_sampler, small_detector_cfg
from mmdet_ohem.utils.strict_keys import check_unknown_keys, init_keys
from helpers import build_roi_head

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
ENTRY_CONFIG = osp.join(ROOT, 'configs', 'faster_rcnn_ohem.py')


@pytest.mark.parametrize('key,meant', [('nms_thres', 'nms_thr'),
                                       ('random_fracton', 'random_fraction'),
                                       ('pos_fractoin', 'pos_fraction')])
def test_sampler_refuses_a_misspelt_key_naming_the_valid_one(key, meant):
    with pytest.raises(TypeError) as info:
        build_roi_head(ohem_sampler(**{key: 0.3}))
    msg = str(info.value)
    assert f'LossRankedOHEMSampler: unknown key `{key}`; did you mean ' \
        f'`{meant}`?' in msg
    assert 'Valid keys: num, pos_fraction, context,' in msg


def test_sampler_names_the_key_of_mmdets_ohem_sampler():
    with pytest.raises(TypeError, match=r"unknown key `loss_key`.*`ranking"):
        build_roi_head(ohem_sampler(loss_key='loss_cls'))


def test_sampler_accepts_what_mmdets_heads_pass():
    # StandardRoIHead and CascadeRoIHead add only `context`; the base
    # configs' RandomSampler keys (num, pos_fraction, neg_pos_ub,
    # add_gt_as_proposals) stay valid when only `type` is swapped.
    swapped = dict(type='LossRankedOHEMSampler', num=512, pos_fraction=0.25,
                   neg_pos_ub=-1, add_gt_as_proposals=True)
    for kind in ('faster', 'cascade'):
        model = MODELS.build(small_detector_cfg(kind, swapped))
        samplers = model.roi_head.bbox_sampler
        samplers = samplers if isinstance(samplers, list) else [samplers]
        assert [s.num for s in samplers] == [512] * len(samplers)


@pytest.fixture(scope='module')
def entry_cfg():
    return Config.fromfile(ENTRY_CONFIG)


def test_whole_detector_from_the_entry_config_names_the_key(entry_cfg):
    """What a user sees: the config's model built as tools/train.py does."""
    cfg = copy.deepcopy(entry_cfg)
    cfg.merge_from_dict({'model.train_cfg.rcnn.sampler.nms_thres': 0.3})
    with pytest.raises(TypeError) as info:
        MODELS.build(cfg.model)
    assert 'unknown key `nms_thres`; did you mean `nms_thr`?' in str(
        info.value)


@pytest.mark.parametrize('hook,key,meant',
                         [('MiningStatsHook', 'window', 'window_size'),
                          ('MiningStatsHook', 'prefx', 'prefix'),
                          ('RNGStateHook', 'seed', None)])
def test_hooks_refuse_unknown_keys(hook, key, meant):
    with pytest.raises(TypeError) as info:
        HOOKS.build({'type': hook, key: 1})
    msg = str(info.value)
    assert f'{hook}: unknown key `{key}`' in msg
    if meant:
        assert f'did you mean `{meant}`?' in msg


def test_hooks_accept_the_runners_priority():
    """``Runner.register_hook`` pops ``priority`` and builds the rest."""
    runner = SimpleNamespace(_hooks=[])
    Runner.register_hook(runner, dict(type='MiningStatsHook',
                                      priority='LOW', window_size=5))
    Runner.register_hook(runner, dict(type='RNGStateHook', priority=10))
    rng, stats = runner._hooks  # sorted by priority: 10 before LOW (70)
    assert (stats.priority, stats.window_size, rng.priority) == ('LOW', 5, 10)


def test_runner_from_the_entry_config_names_a_misspelt_hook_key(
        entry_cfg, tmp_path):
    cfg = copy.deepcopy(entry_cfg)
    cfg.work_dir = str(tmp_path)
    cfg.custom_hooks = [dict(type='MiningStatsHook', windw_size=5)]
    with pytest.raises(TypeError, match='unknown key `windw_size`; did you '
                       'mean `window_size`'):
        Runner.from_cfg(cfg)


def test_check_unknown_keys_lists_every_unknown_key():
    class Foo:

        def __init__(self, alpha=1, *, beta=2, **kwargs):
            check_unknown_keys(Foo, kwargs)

    assert init_keys(Foo) == ['alpha', 'beta']
    Foo(alpha=3, beta=4)
    with pytest.raises(TypeError, match=r'unknown key `alpah` \(also '
                       r'unknown: gamma\); did you mean `alpha`\? '
                       r'Valid keys: alpha, beta\.'):
        Foo(alpah=3, gamma=5)

"""Every config in configs/ loads with Config.fromfile and builds."""
import glob
import inspect
import os.path as osp

import pytest
from mmdet.registry import MODELS
from mmengine.config import Config

from mmdet_ohem import LossRankedOHEMSampler

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = sorted(glob.glob(osp.join(ROOT, 'configs', '**', '*.py'),
                           recursive=True))


def test_configs_exist():
    names = {osp.basename(c) for c in CONFIGS}
    assert {'faster_rcnn_ohem.py', 'faster-rcnn_r50_fpn_ohem_1x_coco.py',
            'fast-rcnn_r50_fpn_ohem_1x_coco.py',
            'mask-rcnn_r50_fpn_ohem_1x_coco.py',
            'cascade-rcnn_r50_fpn_ohem_1x_coco.py'} <= names


@pytest.mark.parametrize('path', CONFIGS, ids=osp.basename)
def test_config_loads_and_builds(path):
    cfg = Config.fromfile(path)
    assert cfg.custom_imports == dict(imports=['mmdet_ohem'],
                                      allow_failed_imports=False)
    model = MODELS.build(cfg.model)
    if cfg.model.type == 'RPN':  # stage 1 of Fast R-CNN: no RoI head
        assert type(model.bbox_head).__name__ == 'RPNHead'
        assert cfg.test_evaluator.type == 'DumpProposals'
        return
    assert model.roi_head.with_bbox
    rcnn = cfg.model.train_cfg.rcnn
    samplers = [s.sampler for s in (rcnn if isinstance(rcnn, list) else
                                    [rcnn])]
    name = osp.basename(path)
    # Benchmark baselines name their sampler; everything else is ours.
    expected = {'random': 'RandomSampler', 'mmdet-ohem': 'OHEMSampler',
                '_base_': 'RandomSampler'}
    kind = next((v for k, v in expected.items() if k in name),
                'LossRankedOHEMSampler')
    for sampler in samplers:
        assert sampler.type == kind, name
        if kind == 'LossRankedOHEMSampler':
            assert sampler.pos_fraction is None


def test_benchmark_variants_differ_only_in_sampling():
    variants = sorted(glob.glob(osp.join(ROOT, 'configs', 'hard_negatives',
                                         'faster-rcnn_*.py')))
    assert len(variants) == 4  # random, mmdet-ohem, ohem, ohem-nms0.5
    dumps = []
    for path in variants:
        cfg = Config.fromfile(path).to_dict()
        cfg['model']['train_cfg']['rcnn'].pop('sampler')
        cfg['model']['roi_head'].pop('type')
        cfg.pop('custom_hooks', None)
        dumps.append(cfg)
    assert all(d == dumps[0] for d in dumps[1:])


def test_one_line_swap_keeps_mmdets_settings():
    cfg = Config.fromfile(
        osp.join(ROOT, 'configs', 'faster-rcnn_r50_fpn_ohem_1x_coco.py'))
    assert cfg.model.train_cfg.rcnn.sampler == dict(
        type='LossRankedOHEMSampler', num=64, pos_fraction=None,
        neg_pos_ub=-1, add_gt_as_proposals=True, nms_thr=0.5,
        nms_per_label=True, random_fraction=0.5)


MINING_KEYS = ('num', 'pos_fraction', 'ranking', 'nms_thr', 'nms_per_label',
               'scope', 'random_fraction')


def built_mining(path: str) -> dict:
    """The mining keys of the sampler a config's model builds."""
    model = MODELS.build(Config.fromfile(path).model)
    sampler = model.roi_head.bbox_sampler
    return {k: getattr(sampler, k) for k in MINING_KEYS}


@pytest.fixture(scope='module')
def entry_mining() -> dict:
    return built_mining(osp.join(ROOT, 'configs', 'faster_rcnn_ohem.py'))


@pytest.mark.parametrize('name', [
    'faster-rcnn_r50_fpn_ohem_1x_coco.py', 'fast-rcnn_r50_fpn_ohem_1x_coco.py',
    'mask-rcnn_r50_fpn_ohem_1x_coco.py',
    'raccoon/faster-rcnn_r18-tiny_fpn_ohem_raccoon.py',
    'hard_negatives/fast-rcnn_r18-tiny_fpn_ohem_hard-negatives.py'
])
def test_configs_mine_as_the_entry_config(name, entry_mining):
    """The configs follow the benchmark: NMS by loss at 0.5 per label, 64
    RoIs per image, half of them the hardest (no quota), half at random."""
    assert entry_mining == dict(num=64, pos_fraction=None,
                                ranking='cls+bbox', nms_thr=0.5,
                                nms_per_label=True, scope='image',
                                random_fraction=0.5)
    assert built_mining(osp.join(ROOT, 'configs', name)) == entry_mining


def test_sampler_defaults_are_the_entry_configs_mining_by_loss():
    """Left out of a config, every key mines as the entry config, except
    the random share: alone, the sampler picks by loss only."""
    params = inspect.signature(LossRankedOHEMSampler).parameters
    assert {k: params[k].default for k in MINING_KEYS if k != 'num'} == dict(
        pos_fraction=None, ranking='cls+bbox', nms_thr=0.5,
        nms_per_label=True, scope='image', random_fraction=0.)

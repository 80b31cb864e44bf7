"""Picks equal, bit for bit, those recorded with v0.2 (commit 1594122).

``data/recorded_picks_v0.2.json`` holds what v0.2 picked on fixed inputs
for each shipped mining setting (``data/record_picks_v0.2.py``, the script
that recorded it, uses the v0.2 API): per image the picked positive and
negative indices and, for ``OHEMRoIHead``, the picks' ranking losses. The
inputs are rebuilt here with the same seeds, model config and order of
random draws, and mined with the current API: a change of the mining code
that moves a single pick or a single loss bit fails here.
"""
import json
import os.path as osp

import pytest
import torch
from mmdet.registry import MODELS
from mmengine.structures import InstanceData

from mmdet_ohem.testing import demo_batch, small_detector_cfg

RECORDED = osp.join(osp.dirname(__file__), 'data',
                    'recorded_picks_v0.2.json')
BASE = dict(type='LossRankedOHEMSampler', num=64, pos_fraction=None,
            ranking='cls+bbox', add_gt_as_proposals=True, scope='image')
SETTINGS = {
    'entry': dict(nms_thr=0.5, nms_per_label=True, random_fraction=0.5),
    'paper': dict(nms_thr=0.7, nms_per_label=True, random_fraction=0.),
    'agnostic': dict(nms_thr=0.5, nms_per_label=False, random_fraction=0.),
    'perlabel': dict(nms_thr=0.5, nms_per_label=True, random_fraction=0.),
    'batch': dict(nms_thr=0.5, nms_per_label=True, random_fraction=0.,
                  scope='batch'),
    'entry-batch': dict(nms_thr=0.5, nms_per_label=True,
                        random_fraction=0.5, scope='batch'),
    'quota': dict(ranking='cls', nms_thr=None, nms_per_label=False,
                  pos_fraction=0.25),
    'rand0.25': dict(nms_thr=0.5, nms_per_label=True, random_fraction=0.25),
}
PATHS = ('head-image', 'head-batch', 'sample')


@pytest.fixture(scope='module')
def recorded():
    with open(RECORDED) as f:
        return json.load(f)


@pytest.fixture(scope='module')
def models():
    """The recording's two detectors (same weights: seed 1) and inputs.

    The recording built a model per setting; the sampler is the only part
    a setting changes, so one model per head type with its sampler rebuilt
    (:func:`use_sampler`) sees the same weights and features.
    """
    built = {}
    for head_type in ('OHEMRoIHead', None):
        torch.manual_seed(1)
        cfg = small_detector_cfg('faster', sampler=dict(BASE),
                                 roi_head_type=head_type, num_classes=3)
        model = MODELS.build(cfg)
        model.train()
        built[head_type or 'StandardRoIHead'] = (model, inputs(model))
    return built


def inputs(model):
    """The recording's features, proposals and samples (seed 0)."""
    torch.manual_seed(0)
    batch = demo_batch(model, batch_size=2, size=320, num_items=[5, 3],
                       num_classes=3)
    x = model.extract_feat(batch['inputs'])
    proposals = []
    for _ in range(2):
        xy = torch.rand(300, 2) * 280
        wh = torch.rand(300, 2) * 120 + 4
        boxes = torch.cat([xy, (xy + wh).clamp(max=320)], 1)
        proposals.append(InstanceData(bboxes=boxes))
    return x, proposals, batch['data_samples']


def use_sampler(head, setting):
    cfg = dict(BASE, **SETTINGS[setting])
    head.train_cfg.sampler = cfg
    head.init_assigner_sampler()


def picks_of(results):
    return [[r.pos_inds.tolist(), r.neg_inds.tolist()] for r in results]


def test_every_setting_and_path_was_recorded(recorded):
    assert sorted(recorded) == sorted(f'{s}/{p}' for s in SETTINGS
                                      for p in PATHS)


@pytest.mark.parametrize('setting', list(SETTINGS))
@pytest.mark.parametrize('readonly_pass', ['image', 'batch'])
def test_ohem_roi_head_picks_as_recorded(models, recorded, setting,
                                         readonly_pass):
    model, (x, proposals, samples) = models['OHEMRoIHead']
    head = model.roi_head
    use_sampler(head, setting)
    head.readonly_pass = readonly_pass
    torch.manual_seed(2)
    candidates = head.assign([p.clone() for p in proposals], samples)
    mined = head.mine_hard_examples(x, candidates)
    expected = recorded[f'{setting}/head-{readonly_pass}']
    assert picks_of(mined.picks) == expected['picks']
    assert mined.losses.dtype == torch.float32
    # float32 -> JSON (a float64) -> float32 is exact.
    assert torch.equal(mined.losses,
                       torch.tensor(expected['losses'], dtype=torch.float32))


@pytest.mark.parametrize('setting', list(SETTINGS))
def test_drop_in_sample_picks_as_recorded(models, recorded, setting):
    model, (x, proposals, samples) = models['StandardRoIHead']
    head = model.roi_head
    use_sampler(head, setting)
    torch.manual_seed(2)
    results = []
    for i in range(2):
        pred = proposals[i].clone()
        pred.priors = pred.pop('bboxes')
        gt = samples[i].gt_instances
        assign_result = head.bbox_assigner.assign(pred, gt, None)
        results.append(
            head.bbox_sampler.sample(assign_result, pred, gt,
                                     feats=[lvl[i][None] for lvl in x]))
    assert picks_of(results) == recorded[f'{setting}/sample']['picks']

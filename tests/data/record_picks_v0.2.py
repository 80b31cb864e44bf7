# Provenance of tests/data/recorded_picks_v0.2.json: recorded at commit 1594122
# (v0.2) with this script, `python record_picks_v0.2.py recorded_picks_v0.2.json`.
# It uses the v0.2 API (OHEMRoIHead.assign / mine_hard_examples, the
# sampler's sample()); kept as provenance, not run by the tests:
# tests/test_recorded_picks.py rebuilds the same inputs for the current API.
# flake8: noqa
"""Record the picks of the shipped mining settings on fixed inputs (v0.2 code)."""
import json, sys, torch
from mmdet.utils import register_all_modules
register_all_modules()
import mmdet_ohem
print(mmdet_ohem.__file__, file=sys.stderr)
from mmdet.registry import MODELS
from mmengine.structures import InstanceData
from mmdet_ohem.testing import small_detector_cfg, demo_batch

BASE = dict(type='LossRankedOHEMSampler', num=64, pos_fraction=None,
            ranking='cls+bbox', add_gt_as_proposals=True, scope='image')
SETTINGS = {
    'entry': dict(nms_thr=0.5, nms_per_label=True, random_fraction=0.5),
    'paper': dict(nms_thr=0.7, nms_per_label=True, random_fraction=0.),
    'agnostic': dict(nms_thr=0.5, nms_per_label=False, random_fraction=0.),
    'perlabel': dict(nms_thr=0.5, nms_per_label=True, random_fraction=0.),
    'batch': dict(nms_thr=0.5, nms_per_label=True, random_fraction=0., scope='batch'),
    'entry-batch': dict(nms_thr=0.5, nms_per_label=True, random_fraction=0.5, scope='batch'),
    'quota': dict(ranking='cls', nms_thr=None, nms_per_label=False, pos_fraction=0.25),
    'rand0.25': dict(nms_thr=0.5, nms_per_label=True, random_fraction=0.25),
}

def inputs(model):
    torch.manual_seed(0)
    batch = demo_batch(model, batch_size=2, size=320, num_items=[5, 3], num_classes=3)
    x = model.extract_feat(batch['inputs'])
    props = []
    for i in range(2):
        xy = torch.rand(300, 2) * 280
        wh = torch.rand(300, 2) * 120 + 4
        b = torch.cat([xy, (xy + wh).clamp(max=320)], 1)
        props.append(InstanceData(bboxes=b))
    return x, props, batch['data_samples']

def picks_of(results):
    return [[r.pos_inds.tolist(), r.neg_inds.tolist()] for r in results]

out = {}
for name, kw in SETTINGS.items():
    cfg = dict(BASE); cfg.update(kw)
    for rp in ('image', 'batch'):
        torch.manual_seed(1)
        mcfg = small_detector_cfg('faster', sampler=cfg, roi_head_type='OHEMRoIHead', num_classes=3)
        mcfg.roi_head.readonly_pass = rp
        model = MODELS.build(mcfg); model.train()
        x, props, samples = inputs(model)
        head = model.roi_head
        torch.manual_seed(2)
        batch = head.assign([p.clone() for p in props], samples)
        mined = head.mine_hard_examples(x, batch)
        out[f'{name}/head-{rp}'] = dict(picks=picks_of(mined.picks),
                                        losses=mined.losses.tolist())
    # drop-in path: StandardRoIHead + sampler.sample
    torch.manual_seed(1)
    mcfg = small_detector_cfg('faster', sampler=cfg, num_classes=3)
    model = MODELS.build(mcfg); model.train()
    x, props, samples = inputs(model)
    head = model.roi_head
    torch.manual_seed(2)
    res = []
    for i in range(2):
        p = props[i].clone(); p.priors = p.pop('bboxes')
        gt = samples[i].gt_instances
        a = head.bbox_assigner.assign(p, gt, None)
        res.append(head.bbox_sampler.sample(a, p, gt, feats=[lvl[i][None] for lvl in x]))
    out[f'{name}/sample'] = dict(picks=picks_of(res))
    print(name, [len(v['picks'][0][0]) + len(v['picks'][0][1]) for k, v in out.items() if k.startswith(name)], file=sys.stderr)
json.dump(out, open(sys.argv[1], 'w'))

"""LossRankedOHEMSampler: mmdet compatibility and paper mode."""
import copy

import pytest
import torch
from mmdet.registry import MODELS, TASK_UTILS
from mmdet.structures.bbox import bbox2roi

from mmdet_ohem import LossRankedOHEMSampler
from mmdet_ohem.testing import ohem_sampler, small_detector_cfg
from helpers import NUM_CLASSES, build_roi_head, roi_head_of

MMDET_OHEM = dict(type='OHEMSampler', num=32, pos_fraction=0.25,
                  neg_pos_ub=-1, add_gt_as_proposals=True)


def sample_all(head, x, proposals, samples):
    """What StandardRoIHead.loss does before the bbox head runs."""
    results, proposals = [], copy.deepcopy(proposals)
    for i, (rpn, sample) in enumerate(zip(proposals, samples)):
        rpn.priors = rpn.pop('bboxes')
        assign = head.bbox_assigner.assign(rpn, sample.gt_instances,
                                           sample.ignored_instances)
        results.append(
            head.bbox_sampler.sample(assign, rpn, sample.gt_instances,
                                     feats=[lvl[i][None] for lvl in x]))
    return results


# neg_pos_ub 1: 8 positives bound the negatives to 8, below the 24 left.
@pytest.mark.parametrize('neg_pos_ub,num_neg', [(-1, 24), (3, 24), (1, 8)])
@pytest.mark.parametrize('head_type', ['StandardRoIHead', 'OHEMRoIHead'])
def test_mmdet_mode_picks_exactly_what_mmdet_picks(roi_batch, neg_pos_ub,
                                                   num_neg, head_type):
    x, proposals, samples = roi_batch
    theirs = build_roi_head(dict(MMDET_OHEM, neg_pos_ub=neg_pos_ub))
    ours = build_roi_head(
        ohem_sampler(32, pos_fraction=0.25, neg_pos_ub=neg_pos_ub,
                     ranking='cls', nms_thr=None), head_type)
    ours.load_state_dict(theirs.state_dict())
    with torch.no_grad():
        expected = sample_all(theirs, x, proposals, samples)
        got = sample_all(ours, x, proposals, samples) \
            if head_type == 'StandardRoIHead' else \
            ours.mine_hard_examples(
                x, ours.assign(copy.deepcopy(proposals), samples)).picks
    for e, g in zip(expected, got):
        # The case must exercise the ranking, not just take everything.
        assert len(e.pos_inds) == 8 and len(e.neg_inds) == num_neg
        assert torch.equal(g.pos_inds, e.pos_inds)
        assert torch.equal(g.neg_inds, e.neg_inds)
        assert torch.equal(g.pos_priors, e.pos_priors)


def test_paper_mode_has_no_quota_and_ranks_by_full_loss(roi_batch):
    x, proposals, samples = roi_batch
    # The paper's NMS: at 0.5 the positives' clusters collapse to a few.
    head = build_roi_head(ohem_sampler(24, nms_thr=0.7))
    # Make every positive hard: a large box error only positives pay.
    with torch.no_grad():
        head.bbox_head.fc_reg.bias.fill_(5.)
        results = sample_all(head, x, proposals, samples)
    for res in results:
        assert len(res.pos_inds) + len(res.neg_inds) == 24
        assert len(res.pos_inds) > 24 * 0.25  # mmdet's quota would cap this
    stats = head.bbox_sampler.stats
    assert stats['loss_picked'] > stats['loss_all']


def test_builds_only_under_a_roi_head():
    rpn = MODELS.build(
        dict(type='RPNHead', in_channels=8, feat_channels=8,
             anchor_generator=dict(type='AnchorGenerator', scales=[8],
                                   ratios=[1.0], strides=[4])))
    with pytest.raises(TypeError, match='train_cfg.rcnn.sampler'):
        TASK_UTILS.build(ohem_sampler(), default_args=dict(context=rpn))


@pytest.mark.parametrize('key,value', [('num', 0), ('nms_thr', 0.),
                                       ('nms_thr', 2.), ('pos_fraction', -.1),
                                       ('ranking', 'bbox'),
                                       ('random_fraction', 1.),
                                       ('random_pos_fraction', 1.5)])
def test_bad_config_fails_at_build_naming_the_key(key, value):
    with pytest.raises(ValueError, match=f'`{key}`'):
        build_roi_head(ohem_sampler(**{key: value}))


def test_random_pos_fraction_is_the_random_shares_quota(roi_batch):
    x, proposals, samples = roi_batch

    def positives(num=24, **kwargs):
        head = build_roi_head(ohem_sampler(num, **kwargs), 'OHEMRoIHead')
        torch.manual_seed(0)
        picks = head.mine_hard_examples(
            x, head.assign(copy.deepcopy(proposals), samples)).picks
        return [len(p.pos_inds) for p in picks]

    # The 12 hard picks per image are the same in every run (same weights);
    # the 12 random ones take no positive at 0, all positives at 1 (each
    # image has 24 or more positive candidates).
    hard = positives(num=12)
    assert positives(random_fraction=0.5, random_pos_fraction=0.) == hard
    assert positives(random_fraction=0.5, random_pos_fraction=1.) == [
        n + 12 for n in hard]
    # Default: RandomSampler's 1:3, int(12 * 0.25) = 3 at most.
    default = positives(random_fraction=0.5)
    assert all(h <= d <= h + 3 for h, d in zip(hard, default))


def test_drop_in_and_roi_head_mine_through_one_method(
        roi_batch, monkeypatch):
    x, proposals, samples = roi_batch
    calls = []
    mine = LossRankedOHEMSampler.mine

    def spy(self, candidates, *args, **kwargs):
        calls.append((type(self.context).__name__, len(candidates)))
        return mine(self, candidates, *args, **kwargs)

    monkeypatch.setattr(LossRankedOHEMSampler, 'mine', spy)
    sample_all(build_roi_head(ohem_sampler(24)), x, proposals, samples)
    head = build_roi_head(ohem_sampler(24), 'OHEMRoIHead')
    head.readonly_pass = 'batch'
    head.loss(x, copy.deepcopy(proposals), samples)
    assert calls == [('StandardRoIHead', 1)] * 2 + [('OHEMRoIHead', 2)]


def test_cascade_stage_uses_its_own_bbox_head():
    model = MODELS.build(small_detector_cfg('cascade', ohem_sampler(16)))
    samplers = model.roi_head.bbox_sampler
    assert [s.stage for s in samplers] == [0, 1, 2]
    assert all(s.bbox_head is model.roi_head.bbox_head[i]
               for i, s in enumerate(samplers))


@pytest.mark.parametrize('agnostic', [False, True])
def test_rank_is_mmdets_own_loss_per_roi(roi_batch, agnostic):
    """``rank()`` against ``BBoxHead.loss(..., reduction_override='none')``
    on random biases, so every class slice of the box deltas differs."""
    cfg = small_detector_cfg(sampler=ohem_sampler(24),
                             roi_head_type='OHEMRoIHead',
                             num_classes=NUM_CLASSES)
    cfg.roi_head.bbox_head.reg_class_agnostic = agnostic
    torch.manual_seed(0)
    head = roi_head_of(cfg)
    with torch.no_grad():
        head.bbox_head.fc_cls.bias.normal_(0, 2)
        head.bbox_head.fc_reg.bias.normal_(0, 1)
    x, proposals, samples = roi_batch
    batch = head.assign(copy.deepcopy(proposals), samples)
    results = [c.result for c in batch]
    rois = bbox2roi([r.priors for r in results])
    with torch.no_grad():
        out = head._bbox_forward(x, rois)
        ours = head.bbox_sampler.rank(out['cls_score'], out['bbox_pred'],
                                      rois, batch)
        labels, label_weights, targets, weights = head.bbox_head.get_targets(
            results, head.train_cfg)
        ref = head.bbox_head.loss(out['cls_score'], out['bbox_pred'], rois,
                                  labels, label_weights, targets, weights,
                                  reduction_override='none')
    expected = ref['loss_cls'].clone()
    pos = labels < NUM_CLASSES
    assert 0 < int(pos.sum()) < len(labels)
    expected[pos] += ref['loss_bbox'].sum(1)
    torch.testing.assert_close(ours, expected)


@pytest.mark.parametrize('autocast', [True, False])
def test_rank_is_float32_under_autocast(roi_batch, autocast):
    """Under bf16 autocast the readonly pass gives bf16 scores; their
    losses must be ranked in float32, where bf16 would tie them (8 bits of
    mantissa: losses 0.25 apart near 100 are equal). Also for bf16 scores
    ranked outside the autocast region, where no op would cast them."""
    cfg = small_detector_cfg(sampler=ohem_sampler(24),
                             roi_head_type='OHEMRoIHead',
                             num_classes=NUM_CLASSES)
    torch.manual_seed(0)
    head = roi_head_of(cfg)
    with torch.no_grad():
        head.bbox_head.fc_cls.bias.normal_(0, 2)
        head.bbox_head.fc_reg.bias.normal_(0, 1)
    x, proposals, samples = roi_batch
    batch = head.assign(copy.deepcopy(proposals), samples)
    rois = bbox2roi([c.result.priors for c in batch])
    with torch.no_grad():
        out = head._bbox_forward(x, rois)
        cls16 = out['cls_score'].bfloat16()
        reg16 = out['bbox_pred'].bfloat16()
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=autocast):
            ours = head.bbox_sampler.rank(cls16, reg16, rois, batch)
        # The same bf16 inputs, ranked in float32 outside autocast.
        ref = head.bbox_sampler.rank(cls16.float(), reg16.float(), rois,
                                     batch)
    assert ours.dtype == torch.float32
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-6)
    # The case has losses that bf16 cannot tell apart: the order of the
    # picks would then be decided by ties, not by the loss.
    assert len(ref.bfloat16().unique()) < len(ref.unique()) - 10
    assert torch.equal(ours.argsort(stable=True), ref.argsort(stable=True))

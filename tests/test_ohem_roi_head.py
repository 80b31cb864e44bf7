"""OHEMRoIHead: one readonly pass, gradients only through the picks."""
import copy

import pytest
import torch
from mmcv.ops.roi_align import RoIAlignFunction
from mmdet.models.roi_heads import StandardRoIHead
from mmdet.registry import MODELS
from mmdet.structures.bbox import bbox2roi

from mmdet_ohem.roi_heads.ohem_roi_head import has_batch_norm
from mmdet_ohem.testing import small_detector_cfg
from conftest import NUM_CLASSES, build_roi_head, roi_head_of


def candidates_of(head, proposals, samples):
    """What ``OHEMRoIHead.loss`` hands ``mine_hard_examples``."""
    assigns, preds = [], copy.deepcopy(proposals)
    for res, sample in zip(preds, samples):
        res.priors = res.pop('bboxes')
        assigns.append(head.bbox_assigner.assign(res, sample.gt_instances))
    return head.bbox_sampler.batch_candidates(
        assigns, preds, [s.gt_instances for s in samples])


def run_loss(head, roi_batch):
    x, proposals, samples = roi_batch
    x = tuple(lvl.clone().requires_grad_() for lvl in x)
    losses = head.loss(x, copy.deepcopy(proposals), samples)
    total = sum(v for k, v in losses.items() if 'loss' in k)
    total.backward()
    return x, losses


def spy(obj, name, record):
    """Wrap ``obj.name`` so each call's args and result land in ``record``.
    """
    original = getattr(obj, name)

    def wrapper(*args, **kwargs):
        out = original(*args, **kwargs)
        record.append((args, out))
        return out

    setattr(obj, name, wrapper)


def test_gradients_equal_a_plain_head_fed_only_the_picks(roi_batch,
                                                         paper_sampler):
    head = build_roi_head(paper_sampler, 'OHEMRoIHead')
    picks = []
    spy(head.bbox_sampler, 'pick', picks)
    x, _ = run_loss(head, roi_batch)
    # On the CPU: one readonly pass and one pick per image.
    selected = [res for _, out in picks for res in out.results]
    assert [len(r.pos_inds) + len(r.neg_inds) for r in selected] == [24, 24]

    plain = build_roi_head(paper_sampler, 'StandardRoIHead', seed=1)
    plain.load_state_dict(head.state_dict())
    x2 = tuple(lvl.detach().clone().requires_grad_() for lvl in x)
    losses = plain.bbox_loss(x2, selected)['loss_bbox']
    (losses['loss_cls'] + losses['loss_bbox']).backward()

    for a, b in zip(x, x2):
        torch.testing.assert_close(a.grad, b.grad)
    for (name, p), q in zip(head.named_parameters(), plain.parameters()):
        torch.testing.assert_close(p.grad, q.grad, msg=name)


def test_readonly_pass_builds_no_graph_and_extracts_once(
        roi_batch, paper_sampler, monkeypatch):
    head = build_roi_head(paper_sampler, 'OHEMRoIHead')
    forwards, extractions = [], []
    spy(head, '_bbox_forward', forwards)
    spy(head.bbox_roi_extractor, 'forward', extractions)
    run_loss(head, roi_batch)
    # One extraction over each image's candidates, one over the 2 x 24
    # picks, which replays the readonly features: RoIAlign's forward runs
    # only in the first two.
    assert len(extractions) == 3
    rows = []
    original = RoIAlignFunction.forward
    monkeypatch.setattr(RoIAlignFunction, 'forward', staticmethod(
        lambda ctx, feat, rois, *a: rows.append(len(rois)) or original(
            ctx, feat, rois, *a)))
    run_loss(head, roi_batch)
    num_readonly = [e[0][1].shape[0] for e in extractions[3:5]]
    assert sum(rows) == sum(num_readonly)  # the candidates only
    stats = head.bbox_sampler.stats  # per image, 2 images
    assert sum(num_readonly) == 2 * stats['num_candidates'] > 200
    assert stats['num_candidates'] > stats['num_after_nms'] >= 24
    assert stats['num_picked'] == 24
    assert extractions[2][0][1].shape[0] == 48
    readonly, trainable = forwards[0][1], forwards[2][1]
    assert not readonly['cls_score'].requires_grad
    assert readonly['cls_score'].grad_fn is None
    assert trainable['cls_score'].requires_grad


def test_readonly_pass_holds_one_image_at_a_time(roi_batch, paper_sampler):
    """Memory stays bounded: each readonly call sees one image's RoIs, and
    the picks and batch stats are those of mining the batch at once."""
    head = build_roi_head(paper_sampler, 'OHEMRoIHead')
    forwards = []
    spy(head, '_bbox_forward', forwards)
    x, proposals, samples = roi_batch
    batch = candidates_of(head, proposals, samples)
    picks, feats = head.mine_hard_examples(x, batch, return_feats=True)
    images = [set(args[1][:, 0].tolist()) for args, _ in forwards]
    assert images == [{0.}, {1.}]
    per_image_stats = dict(head.bbox_sampler.stats)

    # The same candidates, ranked and selected as one batch.
    rois = bbox2roi([c.result.priors for c in batch])
    with torch.no_grad():
        out = head._bbox_forward(x, rois)
        losses = head.bbox_sampler.rank(out['cls_score'], out['bbox_pred'],
                                        rois, batch)
    at_once = head.bbox_sampler.pick(batch, losses)
    for a, b in zip(picks, at_once.results):
        assert torch.equal(a.pos_inds, b.pos_inds)
        assert torch.equal(a.neg_inds, b.neg_inds)
    assert per_image_stats == pytest.approx(head.bbox_sampler.stats)
    picked = out['bbox_feats'][at_once.rows]
    torch.testing.assert_close(feats, picked)


@pytest.mark.parametrize('norm', ['BN', 'SyncBN'])
def test_a_batch_norm_head_is_run_once_for_the_batch(
        roi_batch, paper_sampler, norm):
    """Per-image passes would give a BN head per-image statistics and N
    running-stat updates per step."""
    cfg = small_detector_cfg(sampler=paper_sampler,
                             roi_head_type='OHEMRoIHead',
                             num_classes=NUM_CLASSES)
    cfg.roi_head.bbox_head.update(type='Shared4Conv1FCBBoxHead',
                                  norm_cfg=dict(type=norm),
                                  conv_out_channels=32)
    torch.manual_seed(0)
    head = roi_head_of(cfg)
    forwards = []
    spy(head, '_bbox_forward', forwards)
    x, proposals, samples = roi_batch
    if norm == 'BN':
        bn = head.bbox_head.shared_convs[0].bn
        updates = int(bn.num_batches_tracked)
    head.mine_hard_examples(x, candidates_of(head, proposals, samples))
    assert len(forwards) == 1
    assert set(forwards[0][0][1][:, 0].tolist()) == {0., 1.}
    if norm == 'BN':  # the readonly pass leaves the running stats alone
        assert int(bn.num_batches_tracked) == updates


# (mmcv's MMSyncBN, also covered, cannot be built without a process group.)
@pytest.mark.parametrize('norm,found', [('BN', True), ('SyncBN', True),
                                        ('GN', False)])
def test_has_batch_norm(norm, found):
    cfg = small_detector_cfg(roi_head_type='OHEMRoIHead')
    norm_cfg = dict(type=norm, num_groups=4) if norm == 'GN' else dict(
        type=norm)
    cfg.roi_head.bbox_head.update(type='Shared4Conv1FCBBoxHead',
                                  norm_cfg=norm_cfg, conv_out_channels=32)
    head = MODELS.build(cfg.roi_head)
    assert has_batch_norm(head.bbox_head) == found


def test_batch_scope_ranks_the_batch_in_one_pass(roi_batch, paper_sampler):
    head = build_roi_head(dict(paper_sampler, scope='batch'), 'OHEMRoIHead')
    forwards = []
    spy(head, '_bbox_forward', forwards)
    x, proposals, samples = roi_batch
    head.mine_hard_examples(x, candidates_of(head, proposals, samples))
    assert len(forwards) == 1
    assert set(forwards[0][0][1][:, 0].tolist()) == {0., 1.}


def test_mmdet_ohem_sampler_extracts_per_image_and_again_to_train(roi_batch):
    # The cost we avoid: mmdet ranks pos and neg of each image separately,
    # then extracts the picks again.
    head = build_roi_head(dict(type='OHEMSampler', num=24, pos_fraction=0.25))
    extractions = []
    spy(head.bbox_roi_extractor, 'forward', extractions)
    run_loss(head, roi_batch)
    assert len(extractions) == 5


def test_inference_is_the_plain_heads(roi_batch, paper_sampler):
    x, proposals, samples = roi_batch
    head = build_roi_head(paper_sampler, 'OHEMRoIHead')
    plain = build_roi_head(paper_sampler, 'StandardRoIHead', seed=1)
    assert isinstance(head, StandardRoIHead)
    plain.load_state_dict(head.state_dict())
    head.eval(), plain.eval()
    with torch.no_grad():
        a = head.predict(x, copy.deepcopy(proposals), samples)
        b = plain.predict(x, copy.deepcopy(proposals), samples)
    for ra, rb in zip(a, b):
        assert len(ra.bboxes) > 0
        assert torch.equal(ra.bboxes, rb.bboxes)
        assert torch.equal(ra.scores, rb.scores)


def test_rejects_a_sampler_that_cannot_mine_a_batch():
    with pytest.raises(TypeError, match='LossRankedOHEMSampler'):
        build_roi_head(dict(type='RandomSampler', num=8, pos_fraction=0.25),
                       'OHEMRoIHead')

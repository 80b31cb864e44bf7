"""OHEMRoIHead: one readonly pass, gradients only through the picks."""
import copy

import torch
from mmcv.ops.roi_align import RoIAlignFunction
from mmdet.models.roi_heads import StandardRoIHead

from conftest import build_roi_head


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
    spy(head.bbox_sampler, 'select', picks)
    x, _ = run_loss(head, roi_batch)
    selected = picks[0][1]
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
    # One extraction over every candidate, one over the 2 x 24 picks,
    # which replays the readonly features: RoIAlign's forward runs only in
    # the first.
    assert len(extractions) == 2
    rows = []
    original = RoIAlignFunction.forward
    monkeypatch.setattr(RoIAlignFunction, 'forward', staticmethod(
        lambda ctx, feat, rois, *a: rows.append(len(rois)) or original(
            ctx, feat, rois, *a)))
    run_loss(head, roi_batch)
    assert sum(rows) == extractions[2][0][1].shape[0]  # the candidates
    stats = head.bbox_sampler.stats  # per image, 2 images
    assert extractions[0][0][1].shape[0] == 2 * stats['num_candidates'] > 200
    assert stats['num_candidates'] > stats['num_after_nms'] >= 24
    assert stats['num_picked'] == 24
    assert extractions[1][0][1].shape[0] == 48
    readonly, trainable = forwards[0][1], forwards[1][1]
    assert not readonly['cls_score'].requires_grad
    assert readonly['cls_score'].grad_fn is None
    assert trainable['cls_score'].requires_grad


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
    import pytest
    with pytest.raises(TypeError, match='LossRankedOHEMSampler'):
        build_roi_head(dict(type='RandomSampler', num=8, pos_fraction=0.25),
                       'OHEMRoIHead')

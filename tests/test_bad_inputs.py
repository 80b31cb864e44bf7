"""Bad inputs and bad configs: what OHEM does with each, for both heads.

Every case runs through a ``StandardRoIHead`` with a
``LossRankedOHEMSampler`` (per-image mining, mmdet's own head) and through
``OHEMRoIHead`` (batch mining), and asserts a defined outcome: exact pick
counts, finite losses, or an error at build time naming the config key.
"""
import copy
import functools
import warnings

import numpy as np
import pytest
import torch
from mmdet.registry import MODELS
from mmdet.structures.bbox import bbox_overlaps
from mmdet.structures.mask import BitmapMasks
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData

from mmdet_ohem.mining import MiningSettings, select_hard_examples
from mmdet_ohem.testing import ohem_sampler, small_detector_cfg
from helpers import IMG, NUM_CLASSES, roi_head_of

HEADS = ('StandardRoIHead', 'OHEMRoIHead')
# Mining by loss alone, and the shipped mining (half the picks at random).
MININGS = pytest.mark.parametrize(
    'mining', [dict(), dict(random_fraction=0.5)], ids=['by-loss', 'shipped'])
# A narrow RoI head (16 feature channels, 64-d FCs) keeps each step cheap.
CHANNELS = 16


@pytest.fixture
def batch(roi_batch):
    """``roi_batch`` with its features cut to ``CHANNELS`` channels."""
    x, proposals, samples = roi_batch
    return (tuple(lvl[:, :CHANNELS].contiguous() for lvl in x), proposals,
            samples)


@functools.lru_cache
def base_cfg(kind):
    """``small_detector_cfg`` once per kind: parsing it takes ~1 s."""
    return small_detector_cfg(kind, num_classes=NUM_CLASSES)


def build_head(sampler, head_type='StandardRoIHead', kind='faster',
               assigner=None, bbox_head=None, seed=0):
    """``conftest.build_roi_head``, narrow, with config overrides.

    Args:
        sampler (dict): ``train_cfg.rcnn.sampler``.
        head_type (str): ``roi_head.type``.
        kind (str): ``'faster'`` or ``'mask'``.
        assigner (dict, optional): Updates ``train_cfg.rcnn.assigner``.
        bbox_head (dict, optional): Updates ``roi_head.bbox_head``.
        seed (int): Seed of the weights.
    """
    cfg = copy.deepcopy(base_cfg(kind))
    cfg.roi_head.type = head_type
    cfg.train_cfg.rcnn.sampler = ConfigDict(copy.deepcopy(sampler))
    roi = cfg.roi_head
    roi.bbox_roi_extractor.out_channels = CHANNELS
    roi.bbox_head.update(in_channels=CHANNELS, fc_out_channels=64)
    if kind == 'mask':
        roi.mask_roi_extractor.out_channels = CHANNELS
        roi.mask_head.update(in_channels=CHANNELS, conv_out_channels=16)
    if assigner is not None:
        cfg.train_cfg.rcnn.assigner.update(assigner)
    if bbox_head is not None:
        cfg.roi_head.bbox_head.update(bbox_head)
    torch.manual_seed(seed)
    return roi_head_of(cfg)


def train_step(head, x, proposals, samples):
    """``head.loss`` and backward; the losses and each image's picks."""
    picks = []
    bbox_loss = head.bbox_loss

    def spy(feats, sampling_results):
        picks.extend(sampling_results)
        return bbox_loss(feats, sampling_results)

    head.bbox_loss = spy
    x = tuple(lvl.detach().clone().requires_grad_() for lvl in x)
    try:
        # One deepcopy each: head.loss pops 'bboxes' of every image's
        # proposals, and a list may hold the same object twice.
        losses = head.loss(x, [copy.deepcopy(p) for p in proposals],
                           copy.deepcopy(samples))
    finally:
        del head.bbox_loss
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    return losses, picks


def assert_finite(losses):
    for key, value in losses.items():
        assert torch.isfinite(value).all(), (key, value)


def counts(picks):
    """(positives, negatives) picked in each image."""
    return [(len(r.pos_inds), len(r.neg_inds)) for r in picks]


def boxes_of(res):
    """The picked boxes of one image, as a sorted list (duplicates kept)."""
    return sorted(map(tuple, res.priors.tolist()))


def proposals_of(boxes):
    return InstanceData(bboxes=boxes, scores=torch.ones(len(boxes)))


def without_gt(sample):
    sample = copy.deepcopy(sample)
    sample.gt_instances = InstanceData(
        bboxes=torch.zeros(0, 4), labels=torch.zeros(0, dtype=torch.long))
    return sample


def no_proposals():
    return proposals_of(torch.zeros(0, 4))


# --- empty images -----------------------------------------------------------


@MININGS
@pytest.mark.parametrize('head_type', HEADS)
def test_image_without_gt_gets_only_background(batch, head_type, mining):
    x, proposals, samples = batch
    head = build_head(ohem_sampler(24, **mining), head_type)
    losses, picks = train_step(head, x, proposals,
                               [without_gt(samples[0]), samples[1]])
    assert counts(picks)[0] == (0, 24)
    assert sum(counts(picks)[1]) == 24 and counts(picks)[1][0] > 0
    assert_finite(losses)
    assert losses['loss_bbox'] > 0  # image 1's positives


@MININGS
@pytest.mark.parametrize('head_type', HEADS)
def test_batch_without_gt_has_zero_but_finite_box_loss(
        batch, head_type, mining):
    x, proposals, samples = batch
    head = build_head(ohem_sampler(24, **mining), head_type)
    losses, picks = train_step(head, x, proposals,
                               [without_gt(s) for s in samples])
    assert counts(picks) == [(0, 24), (0, 24)]
    assert_finite(losses)
    assert losses['loss_bbox'] == 0 and losses['loss_bbox'].requires_grad
    assert losses['loss_cls'] > 0


@MININGS
@pytest.mark.parametrize('head_type', HEADS)
def test_image_without_proposals_mines_its_gt_boxes(batch, head_type, mining):
    x, proposals, samples = batch
    head = build_head(ohem_sampler(24, **mining), head_type)
    losses, picks = train_step(head, x, [no_proposals(), proposals[1]],
                               samples)
    # Image 0's only candidates are its 2 gt boxes: both picked, positive.
    assert counts(picks)[0] == (2, 0)
    assert torch.equal(picks[0].pos_priors,
                       samples[0].gt_instances.bboxes)
    assert sum(counts(picks)[1]) == 24
    assert_finite(losses)


@pytest.mark.parametrize('head_type', HEADS)
def test_image_without_proposals_or_gt_candidates_gets_none(
        batch, head_type):
    x, proposals, samples = batch
    head = build_head(ohem_sampler(24, add_gt_as_proposals=False),
                      head_type)
    losses, picks = train_step(head, x, [no_proposals(), proposals[1]],
                               samples)
    assert counts(picks)[0] == (0, 0)
    assert sum(counts(picks)[1]) == 24
    assert_finite(losses)


def test_batch_scope_gives_an_empty_images_budget_to_the_others(batch):
    x, proposals, samples = batch
    head = build_head(
        ohem_sampler(24, add_gt_as_proposals=False, scope='batch'),
        'OHEMRoIHead')
    losses, picks = train_step(head, x, [no_proposals(), proposals[1]],
                               samples)
    assert head.bbox_sampler.stats['num_after_nms'] * 2 > 48
    assert counts(picks)[0] == (0, 0) and sum(counts(picks)[1]) == 48
    assert_finite(losses)


@pytest.mark.parametrize('head_type', HEADS)
@pytest.mark.parametrize('add_gt', [True, False])
def test_batch_with_nothing_to_pick(batch, head_type, add_gt):
    """No gt and no proposals anywhere: 0 RoIs reach the bbox head.

    mmdet's ``BBoxHead.loss`` then returns ``loss_bbox`` only (what
    ``StandardRoIHead`` gives, as with mmdet's own samplers);
    ``OHEMRoIHead`` adds ``loss_cls`` and ``acc`` as graph-tied zeros so the
    keys and the gradient buckets stay the same every step.
    """
    x, _, samples = batch
    head = build_head(ohem_sampler(24, add_gt_as_proposals=add_gt),
                      head_type)
    losses, picks = train_step(head, x, [no_proposals(), no_proposals()],
                               [without_gt(s) for s in samples])
    assert counts(picks) == [(0, 0), (0, 0)]
    assert_finite(losses)
    expected = {'loss_bbox'} if head_type == 'StandardRoIHead' else {
        'loss_cls', 'acc', 'loss_bbox'}
    assert set(losses) == expected
    assert all(v == 0 for v in losses.values())
    assert all(losses[k].requires_grad for k in expected - {'acc'})
    if head_type == 'OHEMRoIHead':
        grad = head.bbox_head.fc_cls.weight.grad
        assert grad is not None and not grad.any()
    stats = head.bbox_sampler.stats
    assert stats['num_candidates'] == stats['num_picked'] == 0


def test_mask_head_with_nothing_to_pick(batch):
    x, _, samples = batch
    head = build_head(ohem_sampler(24), 'OHEMRoIHead', kind='mask')
    samples = [without_gt(s) for s in samples]
    for s in samples:
        s.gt_instances.masks = BitmapMasks(
            np.zeros((0, IMG, IMG), np.uint8), IMG, IMG)
    losses, _ = train_step(head, x, [no_proposals(), no_proposals()], samples)
    assert set(losses) == {'loss_cls', 'acc', 'loss_bbox', 'loss_mask'}
    assert_finite(losses)
    assert losses['loss_mask'] == 0 and losses['loss_mask'].requires_grad


# --- few or one-sided candidates --------------------------------------------


@pytest.mark.parametrize('head_type', HEADS)
def test_fewer_candidates_than_num_are_all_kept(batch, head_type):
    x, _, samples = batch
    # 9 small boxes on a grid: no pair (or box-gt pair) overlaps above 0.7.
    grid = torch.tensor([[5. + 40 * i, 5. + 40 * j, 25. + 40 * i,
                          25. + 40 * j] for i in range(3) for j in range(3)])
    for s in samples:
        cands = torch.cat([s.gt_instances.bboxes, grid])
        iou = bbox_overlaps(cands, cands).fill_diagonal_(0)
        assert iou.max() < 0.7
    head = build_head(ohem_sampler(24), head_type)
    losses, picks = train_step(head, x, [proposals_of(grid)] * 2, samples)
    for res, s in zip(picks, samples):
        assert boxes_of(res) == sorted(
            map(tuple, torch.cat([s.gt_instances.bboxes, grid]).tolist()))
    assert sum(counts(picks)[0]) == 2 + 9 and sum(counts(picks)[1]) == 3 + 9
    assert_finite(losses)


@pytest.mark.parametrize('head_type', HEADS)
def test_without_nms_a_large_num_keeps_every_candidate(batch,
                                                       head_type):
    x, proposals, samples = batch
    head = build_head(ohem_sampler(1000, nms_thr=None), head_type)
    losses, picks = train_step(head, x, proposals, samples)
    for res, rpn, s in zip(picks, proposals, samples):
        assert boxes_of(res) == sorted(map(tuple, torch.cat(
            [s.gt_instances.bboxes, rpn.bboxes]).tolist()))
    assert_finite(losses)


def jittered_copies(gt):
    """10 copies of each gt box moved by 1-2 px: IoU > 0.85 with it."""
    shifts = torch.tensor([[1, 0, 1, 0], [0, 1, 0, 1], [-1, 0, -1, 0],
                           [0, -1, 0, -1], [1, 1, -1, -1], [-1, -1, 1, 1],
                           [2, 0, 2, 0], [0, 2, 0, 2], [-2, 0, -2, 0],
                           [1, -1, 1, -1.]])
    return (gt[:, None] + shifts[None]).reshape(-1, 4)


@pytest.mark.parametrize('head_type', HEADS)
@pytest.mark.parametrize('sampler,expected', [
    # 22 and 33 candidates, all positive; no quota: the top 24.
    (ohem_sampler(24, nms_thr=None), [(22, 0), (24, 0)]),
    # mmdet's quota: int(24 * .25) positives, and no negatives to fill.
    (ohem_sampler(24, nms_thr=None, pos_fraction=.25), [(6, 0), (6, 0)]),
    # NMS by loss collapses each gt's cluster to its hardest RoI.
    (ohem_sampler(24), [(2, 0), (3, 0)]),
])
def test_all_candidates_positive(batch, head_type, sampler, expected):
    x, _, samples = batch
    props = [proposals_of(jittered_copies(s.gt_instances.bboxes))
             for s in samples]
    head = build_head(sampler, head_type)
    losses, picks = train_step(head, x, props, samples)
    assert counts(picks) == expected
    if sampler['nms_thr'] is not None:
        for res, s in zip(picks, samples):
            # One pick per gt box: each cluster keeps exactly one.
            assert sorted(res.pos_assigned_gt_inds.tolist()) == list(
                range(len(s.gt_instances)))
    assert_finite(losses)
    assert losses['loss_bbox'] > 0


@pytest.mark.parametrize('head_type', HEADS)
@pytest.mark.parametrize('pos_fraction', [0., 1.])
def test_quota_bounds_are_valid(batch, head_type, pos_fraction):
    x, proposals, samples = batch
    # Every NMS survivor, to count the positives the quota can draw on.
    survivors = counts(train_step(build_head(ohem_sampler(1000), head_type),
                                  x, proposals, samples)[1])
    head = build_head(ohem_sampler(24, pos_fraction=pos_fraction),
                      head_type)
    losses, picks = train_step(head, x, proposals, samples)
    # 0: negatives only; 1: positives first, negatives fill the rest.
    expected = [(k, 24 - k) for k in (
        min(24, int(24 * pos_fraction), pos) for pos, _ in survivors)]
    assert counts(picks) == expected
    assert survivors[0][0] > 0 and survivors[0][1] > 24
    assert_finite(losses)


# --- degenerate boxes -------------------------------------------------------

DEGENERATE = torch.tensor([
    [50., 50., 50., 50.],  # a point
    [60., 60., 60., 90.],  # zero width
    [70., 20., 100., 20.],  # zero height
    [50., 50., 50., 50.],  # the same point again
    [-50., -50., -10., -10.],  # left of / above the image
    [200., 200., 260., 260.],  # right of / below the image
    [-30., -30., 300., 300.],  # covers the whole image and more
])


@pytest.mark.parametrize('head_type', HEADS)
def test_zero_area_and_out_of_image_proposals(batch, head_type):
    x, proposals, samples = batch
    props = [proposals_of(torch.cat([DEGENERATE, p.bboxes]))
             for p in proposals]
    head = build_head(ohem_sampler(1000, nms_thr=None), head_type)
    losses, picks = train_step(head, x, props, samples)
    # They get a finite ranking loss like any RoI, so with room for every
    # candidate all are picked, as negatives (IoU 0 with every gt box).
    for res, p, s in zip(picks, props, samples):
        assert boxes_of(res) == sorted(map(tuple, torch.cat(
            [s.gt_instances.bboxes, p.bboxes]).tolist()))
        neg = res.neg_priors.tolist()
        assert all(neg.count(b) == DEGENERATE.tolist().count(b)
                   for b in DEGENERATE.tolist())
    assert_finite(losses)

    head = build_head(ohem_sampler(24), head_type)
    losses, picks = train_step(head, x, props, samples)
    assert [p + n for p, n in counts(picks)] == [24, 24]
    assert_finite(losses)


# Inverted and NaN/inf proposals (a bad precomputed proposal file, say).
# mmdet's RandomSampler draws them like any RoI and mmcv's CPU RoIAlign then
# dies with "roi_width >= 0 && roi_height >= 0 INTERNAL ASSERT FAILED";
# OHEM scores every candidate, so it would die every step: they are dropped.
MALFORMED = torch.tensor([[50., 10., 20., 60.], [10., 60., 50., 20.],
                          [float('nan'), 0., 10., 10.],
                          [0., 0., float('inf'), 10.],
                          [0., -float('inf'), 10., 10.]])


@pytest.mark.parametrize('head_type', HEADS)
def test_malformed_proposals_are_dropped_with_one_warning(batch, head_type):
    x, proposals, samples = batch
    props = [proposals_of(torch.cat([MALFORMED, p.bboxes]))
             for p in proposals]
    head = build_head(ohem_sampler(1000, nms_thr=None), head_type)
    with pytest.warns(UserWarning, match='candidate RoIs with x2 < x1') \
            as caught:
        losses, picks = train_step(head, x, props, samples)
    assert len([w for w in caught if 'dropped' in str(w.message)]) == 1
    assert_finite(losses)
    # Everything else is a candidate, and with room for all, picked.
    for res, p, s in zip(picks, proposals, samples):
        assert boxes_of(res) == sorted(map(tuple, torch.cat(
            [s.gt_instances.bboxes, p.bboxes]).tolist()))
    assert head.bbox_sampler.num_malformed == 2 * len(MALFORMED)
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # warned once: now silent
        train_step(head, x, props, samples)
    assert head.bbox_sampler.num_malformed == 4 * len(MALFORMED)


def test_boxes_at_negative_coordinates_stay_in_their_image():
    # mmcv's batched_nms would shift image 1 by max coordinate + 1 = 31,
    # moving RoI 2 onto RoI 0 (IoU 1): one image suppressing another's.
    boxes = torch.tensor([[-20., -20., 20., 20.], [0., 0., 30., 30.],
                          [-51., -51., -11., -11.]])
    kept = select_hard_examples(
        torch.tensor([.9, .1, .5]), boxes, torch.tensor([0, 0, 1]),
        MiningSettings(4, nms_thr=0.7, nms_per_label=False)).kept
    assert kept.tolist() == [0, 1, 2]


@pytest.mark.parametrize('head_type', HEADS)
def test_out_of_image_proposals_never_suppress_another_images(
        batch, head_type):
    x, proposals, samples = batch
    # The largest coordinate is 128: batched_nms would shift image 1 by
    # 129, moving its second box exactly onto image 0's first one.
    extra = [torch.tensor([[-20., -20., 20., 20.]]),
             torch.tensor([[-149., -149., -109., -109.]])]
    props = [proposals_of(torch.cat([e, p.bboxes]))
             for e, p in zip(extra, proposals)]
    head = build_head(ohem_sampler(1000), head_type)
    losses, picks = train_step(head, x, props, samples)
    for res, e in zip(picks, extra):
        assert e[0].tolist() in res.neg_priors.tolist()
    assert_finite(losses)


@pytest.mark.parametrize('head_type', HEADS)
def test_zero_area_gt_box_is_never_picked(batch, head_type):
    """Its box target is log(0 / 0) = NaN, so its ranking loss is NaN.

    (mmdet's RandomSampler picks it and the step's ``loss_bbox`` is NaN.)
    """
    x, proposals, samples = batch
    samples = copy.deepcopy(samples)
    gt = samples[0].gt_instances
    point = torch.tensor([[40., 40., 40., 80.]])
    samples[0].gt_instances = InstanceData(
        bboxes=torch.cat([gt.bboxes, point]),
        labels=torch.cat([gt.labels, torch.tensor([1])]))
    head = build_head(ohem_sampler(1000, nms_thr=None), head_type)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        losses, picks = train_step(head, x, proposals, samples)
    assert [str(w.message) for w in caught if 'NaN/inf' in str(w.message)
            ] == ['1 RoIs have a NaN/inf OHEM ranking loss; they are never '
                  'picked (warned once).']
    assert point[0].tolist() not in picks[0].priors.tolist()
    # Everything else is picked: 2 gt + 144 proposals of image 0.
    assert sum(counts(picks)[0]) == 2 + len(proposals[0].bboxes)
    assert_finite(losses)


# --- ignored regions --------------------------------------------------------

IGNORE = torch.tensor([[72., 92., 128., 128.]])  # off every gt box


def with_ignore(sample):
    sample = copy.deepcopy(sample)
    sample.ignored_instances = InstanceData(
        bboxes=IGNORE.clone(), labels=torch.zeros(1, dtype=torch.long))
    return sample


def in_ignored_region(boxes):
    """MaxIoUAssigner's rule: IoF(box, ignored box) > ignore_iof_thr."""
    return bbox_overlaps(boxes, IGNORE, mode='iof')[:, 0] > 0.5


@pytest.mark.parametrize('head_type', HEADS)
def test_proposals_on_ignored_regions_are_never_candidates(
        batch, head_type):
    x, proposals, samples = batch
    samples = [with_ignore(s) for s in samples]
    ignored = [in_ignored_region(p.bboxes) for p in proposals]
    assert [int(i.sum()) for i in ignored] == [11, 17]
    everything = ohem_sampler(1000, nms_thr=None)

    head = build_head(everything, head_type, assigner=dict(
        ignore_iof_thr=0.5))
    losses, picks = train_step(head, x, proposals, samples)
    for res, p, s, ign in zip(picks, proposals, samples, ignored):
        # Exactly the gt boxes and the proposals off the ignored region.
        assert boxes_of(res) == sorted(map(tuple, torch.cat(
            [s.gt_instances.bboxes, p.bboxes[~ign]]).tolist()))
    assert_finite(losses)

    # Control: without ignore_iof_thr the same proposals are picked.
    head = build_head(everything, head_type)
    _, picks = train_step(head, x, proposals, samples)
    assert [int(in_ignored_region(r.priors).sum()) for r in picks] == [
        11, 17]

    # The paper's setting: 24 per image, none on the ignored region.
    head = build_head(ohem_sampler(24), head_type, assigner=dict(
        ignore_iof_thr=0.5))
    losses, picks = train_step(head, x, proposals, samples)
    assert [p + n for p, n in counts(picks)] == [24, 24]
    assert not any(in_ignored_region(r.priors).any() for r in picks)
    assert_finite(losses)


@pytest.mark.parametrize('head_type', HEADS)
def test_ignored_regions_need_a_gt_box_in_the_image(batch, head_type):
    """Known limit of mmdet's MaxIoUAssigner, not of OHEM.

    With no gt box it returns early, assigning every prior to background
    before looking at the ignored boxes; mmdet's RandomSampler then picks
    them too. This pins the behaviour so a change in mmdet shows up here.
    """
    x, proposals, samples = batch
    samples = [with_ignore(without_gt(s)) for s in samples]
    head = build_head(ohem_sampler(1000, nms_thr=None), head_type,
                      assigner=dict(ignore_iof_thr=0.5))
    _, picks = train_step(head, x, proposals, samples)
    assert [int(in_ignored_region(r.priors).sum()) for r in picks] == [
        11, 17]


# --- NaN / inf ranking losses -----------------------------------------------


def poison(head, nan_boxes, inf_boxes):
    """Make the bbox head output NaN / inf class scores for given boxes.

    NaN scores give a NaN cross-entropy; a -inf background score gives
    background RoIs an infinite one.
    """
    forward = head._bbox_forward

    def poisoned(x, rois):
        out = forward(x, rois)

        def hit(boxes):
            return (rois[:, None, 1:] == boxes[None]).all(-1).any(-1)

        cls_score = out['cls_score']
        bg = torch.zeros_like(cls_score, dtype=torch.bool)
        bg[:, NUM_CLASSES] = True
        cls_score = torch.where(hit(nan_boxes)[:, None],
                                cls_score.new_tensor(float('nan')),
                                cls_score)
        out['cls_score'] = torch.where(
            hit(inf_boxes)[:, None] & bg,
            cls_score.new_tensor(-float('inf')), cls_score)
        return out

    head._bbox_forward = poisoned


@pytest.mark.parametrize('head_type', HEADS)
def test_non_finite_rois_are_skipped_with_one_warning(batch, head_type):
    x, proposals, samples = batch
    # NaN: some near-gt (positive) and random RoIs; inf: background RoIs.
    nan_idx, inf_idx = [[0, 7, 13, 60], [1, 30]], [[100, 130], [150, 120]]
    nan_boxes = torch.cat([p.bboxes[i] for p, i in zip(proposals, nan_idx)])
    inf_boxes = torch.cat([p.bboxes[i] for p, i in zip(proposals, inf_idx)])
    gt = torch.cat([s.gt_instances.bboxes for s in samples])
    assert bbox_overlaps(inf_boxes, gt).max() < 0.5  # background

    head = build_head(ohem_sampler(24), head_type)
    poison(head, nan_boxes, inf_boxes)
    ranks = []
    rank = head.bbox_sampler.rank
    head.bbox_sampler.rank = lambda *a: ranks.append(rank(*a)) or ranks[-1]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        for _ in range(3):
            losses, picks = train_step(head, x, proposals, samples)
            assert_finite(losses)
    assert len([w for w in caught if 'NaN/inf' in str(w.message)]) == 1
    ranked = torch.cat(ranks[-len(ranks) // 3:])
    assert int(torch.isnan(ranked).sum()) == 6
    assert int(torch.isposinf(ranked).sum()) == 4
    bad = torch.cat([nan_boxes, inf_boxes]).tolist()
    assert not any(b in r.priors.tolist() for r in picks for b in bad)

    # Exactly the picks and losses of a run without those proposals.
    keep = [torch.ones(len(p.bboxes), dtype=torch.bool) for p in proposals]
    for k, i, j in zip(keep, nan_idx, inf_idx):
        k[i + j] = False
    clean = [proposals_of(p.bboxes[k]) for p, k in zip(proposals, keep)]
    ref_losses, ref_picks = train_step(build_head(ohem_sampler(24),
                                                  head_type),
                                       x, clean, samples)
    assert [boxes_of(r) for r in picks] == [boxes_of(r) for r in ref_picks]
    for key in ref_losses:
        torch.testing.assert_close(losses[key], ref_losses[key])


# --- misconfigurations fail at build time -----------------------------------


@pytest.mark.parametrize('head_type', HEADS)
def test_ohem_sampler_under_the_rpn_fails_at_build(head_type):
    cfg = small_detector_cfg(sampler=ohem_sampler(), roi_head_type=head_type)
    cfg.train_cfg.rpn.sampler = ohem_sampler()
    with pytest.raises(TypeError, match='train_cfg.rpn.sampler'):
        MODELS.build(cfg)


@pytest.mark.parametrize('head_type', HEADS)
@pytest.mark.parametrize('loss_cls', [
    dict(type='SeesawLoss', num_classes=NUM_CLASSES),  # returns a dict
    dict(type='VarifocalLoss', use_sigmoid=True),  # wants soft targets
    dict(type='QualityFocalLoss', use_sigmoid=True),  # (label, score)
])
def test_loss_cls_without_per_roi_values_fails_at_build(head_type, loss_cls):
    with pytest.raises(ValueError, match=r'`bbox_head.loss_cls` \(' +
                       loss_cls['type'] + r'\).* one of: CrossEntropyLoss'):
        build_head(ohem_sampler(), head_type, bbox_head=dict(
            loss_cls=loss_cls))


@pytest.mark.parametrize('head_type', HEADS)
def test_loss_bbox_without_per_roi_values_fails_at_build(head_type):
    bbox_head = dict(loss_bbox=dict(type='DistributionFocalLoss'))
    with pytest.raises(ValueError, match='`bbox_head.loss_bbox`'):
        build_head(ohem_sampler(), head_type, bbox_head=bbox_head)
    # Ranking by classification alone never evaluates the box loss.
    build_head(ohem_sampler(ranking='cls'), head_type, bbox_head=bbox_head)


@pytest.mark.parametrize('head_type', HEADS)
def test_sigmoid_focal_loss_cls_is_supported(batch, head_type):
    """Sigmoid Focal loss is per class, summed per RoI: it can rank."""
    x, proposals, samples = batch
    head = build_head(ohem_sampler(24), head_type, bbox_head=dict(
        loss_cls=dict(type='FocalLoss', use_sigmoid=True)))
    losses, picks = train_step(head, x, proposals, samples)
    assert [p + n for p, n in counts(picks)] == [24, 24]
    assert_finite(losses)


# num 0, nms_thr 0 / 2, pos_fraction -.1 and ranking 'bbox' under a
# StandardRoIHead are in test_ohem_sampler.py.
BAD_VALUES = [('num', -1), ('num', 2.5), ('num', True), ('nms_thr', -0.5),
              ('nms_thr', 1.01), ('pos_fraction', 1.5), ('neg_pos_ub', -2),
              ('neg_pos_ub', None), ('scope', 'epoch')]
OHEM_HEAD_ONLY = [('num', 0), ('nms_thr', 0.), ('nms_thr', 2.),
                  ('pos_fraction', -.1), ('ranking', 'bbox')]


@pytest.mark.parametrize('head_type,key,value', [
    (h, k, v) for h in HEADS for k, v in BAD_VALUES
] + [('OHEMRoIHead', k, v) for k, v in OHEM_HEAD_ONLY])
def test_bad_sampler_value_fails_at_build_naming_the_key(
        head_type, key, value):
    with pytest.raises(ValueError, match=f'`{key}`'):
        build_head(ohem_sampler(**{key: value}), head_type)


@pytest.mark.parametrize('head_type', HEADS)
@pytest.mark.parametrize('key,value', [('nms_thr', 1.), ('nms_thr', None),
                                       ('pos_fraction', 0.),
                                       ('pos_fraction', 1.), ('num', 1),
                                       ('neg_pos_ub', 0)])
def test_boundary_values_build(head_type, key, value):
    head = build_head(ohem_sampler(**{key: value}), head_type)
    assert getattr(head.bbox_sampler, key) == value


@pytest.mark.parametrize('sampler', [
    dict(type='OHEMSampler', num=24, pos_fraction=.25),
    dict(type='PseudoSampler'),
])
def test_ohem_roi_head_rejects_other_samplers(sampler):
    # RandomSampler is in test_ohem_roi_head.py.
    with pytest.raises(TypeError, match="'LossRankedOHEMSampler'"):
        build_head(sampler, 'OHEMRoIHead')


def test_ohem_roi_head_builds_without_train_cfg():
    cfg = small_detector_cfg(sampler=dict(type='RandomSampler', num=8,
                                          pos_fraction=.25),
                             roi_head_type='OHEMRoIHead')
    cfg.train_cfg = None
    model = MODELS.build(cfg)
    assert model.roi_head.bbox_sampler is None

"""OHEMRoIHead: one readonly pass, gradients only through the picks."""
import copy

import pytest
import torch
from mmcv.ops.roi_align import RoIAlignFunction
from mmdet.models.roi_heads import StandardRoIHead
from mmdet.registry import MODELS
from mmdet.structures.bbox import bbox2roi, bbox_overlaps

from mmdet_ohem.testing import ohem_sampler, small_detector_cfg
from helpers import NUM_CLASSES, build_roi_head, roi_head_of


def candidates_of(head, proposals, samples):
    """What ``OHEMRoIHead.loss`` hands ``mine_hard_examples``."""
    return head.assign(copy.deepcopy(proposals), samples)


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
    # What loss() will train on (paper mode draws nothing at random).
    selected = head.mine_hard_examples(
        roi_batch[0], candidates_of(head, *roi_batch[1:])).picks
    assert [len(r.pos_inds) + len(r.neg_inds) for r in selected] == [24, 24]
    x, _ = run_loss(head, roi_batch)

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
    mined = head.mine_hard_examples(x, batch)
    picks, feats = mined.picks, mined.feats
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
    # The result's losses are the picks' ranking losses, in the same order.
    torch.testing.assert_close(mined.losses, losses[at_once.rows])
    assert mined.stats == per_image_stats


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
def test_batch_norms_found(norm, found):
    cfg = small_detector_cfg(roi_head_type='OHEMRoIHead')
    norm_cfg = dict(type=norm, num_groups=4) if norm == 'GN' else dict(
        type=norm)
    cfg.roi_head.bbox_head.update(type='Shared4Conv1FCBBoxHead',
                                  norm_cfg=norm_cfg, conv_out_channels=32)
    head = MODELS.build(cfg.roi_head)
    assert bool(head.batch_norms) == found


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


def bn_head(head_type, shared_head=False):
    """A head with BN in the bbox head, or a C4-style BN shared head."""
    cfg = small_detector_cfg(sampler=ohem_sampler(num=24),
                             roi_head_type=head_type,
                             num_classes=NUM_CLASSES)
    if shared_head:
        box = cfg.roi_head.pop('bbox_head')
        cfg.roi_head.pop('bbox_roi_extractor')
        cfg.roi_head.update(
            shared_head=dict(type='ResLayer', depth=18, stage=3,
                             norm_eval=False),
            bbox_roi_extractor=dict(
                type='SingleRoIExtractor', out_channels=256,
                featmap_strides=[16],
                roi_layer=dict(type='RoIAlign', output_size=8,
                               sampling_ratio=2)),
            bbox_head=dict(type='BBoxHead', with_avg_pool=True,
                           roi_feat_size=4, in_channels=512,
                           num_classes=NUM_CLASSES,
                           bbox_coder=box.bbox_coder, loss_cls=box.loss_cls,
                           loss_bbox=box.loss_bbox))
    else:
        cfg.roi_head.bbox_head.update(type='Shared4Conv1FCBBoxHead',
                                      norm_cfg=dict(type='BN'),
                                      conv_out_channels=32)
    torch.manual_seed(0)
    return roi_head_of(cfg)


def running_stats(module):
    return {
        name: buf.clone()
        for name, buf in module.named_buffers()
        if name.split('.')[-1] in ('running_mean', 'running_var',
                                   'num_batches_tracked')
    }


@pytest.mark.parametrize('shared_head', [False, True])
def test_bn_running_stats_are_a_plain_heads_trained_on_the_picks(
        roi_batch, shared_head):
    """The readonly pass leaves running statistics alone: after a step
    they equal those of a plain head that saw only the picks."""
    head = bn_head('OHEMRoIHead', shared_head)
    plain = bn_head('StandardRoIHead', shared_head)
    plain.load_state_dict(head.state_dict())
    before = running_stats(head)
    assert before and torch.equal(
        before[next(k for k in before if 'tracked' in k)],
        torch.tensor(0))
    forwards = []
    spy(head, '_bbox_forward', forwards)
    x, proposals, samples = roi_batch
    if shared_head:  # one stride-16 level
        x = (x[2], )
    # The picks loss() trains on; mining leaves the running stats alone.
    picks = head.mine_hard_examples(x, candidates_of(head, proposals,
                                                     samples)).picks
    assert running_stats(head).keys() == before.keys()
    assert all(
        torch.equal(v, before[k]) for k, v in running_stats(head).items())
    head.loss(x, copy.deepcopy(proposals), samples)
    # BN: one readonly pass for the batch in each mining, one trainable.
    assert len(forwards) == 3
    plain.bbox_loss(x, picks)
    after, expected = running_stats(head), running_stats(plain)
    assert after.keys() == expected.keys() == before.keys()
    for name in expected:
        torch.testing.assert_close(after[name], expected[name], msg=name)
        if 'tracked' in name:
            assert int(after[name]) == 1, name
        else:
            assert not torch.equal(after[name], before[name]), name


def test_nms_per_label_lets_overlapping_picks_differ_only_in_label(
        roi_batch):
    sampler = ohem_sampler(num=24, nms_thr=0.3, nms_per_label=True)
    head = build_roi_head(sampler, 'OHEMRoIHead')
    x, proposals, samples = roi_batch
    mined = head.mine_hard_examples(x, candidates_of(head, proposals,
                                                     samples))
    overlapping = 0
    for res in mined.picks:
        labels = torch.cat([
            res.pos_gt_labels,
            res.neg_inds.new_full((len(res.neg_inds), ), NUM_CLASSES)
        ])
        iou = bbox_overlaps(res.priors, res.priors)
        iou.fill_diagonal_(0)
        same_label = labels[:, None] == labels[None]
        assert not (iou[same_label] > 0.3).any()
        overlapping += int((iou[~same_label] > 0.3).sum())
    assert overlapping > 0  # class-agnostic NMS would have removed these


@pytest.mark.parametrize('sampler', [
    ohem_sampler(num=24),
    ohem_sampler(num=24, nms_thr=0.5, nms_per_label=True)
])
def test_readonly_pass_per_image_or_per_batch_trains_the_same(
        roi_batch, sampler):
    runs = []
    for readonly_pass in ('image', 'batch'):
        head = build_roi_head(sampler, 'OHEMRoIHead')
        head.readonly_pass = readonly_pass
        forwards = []
        spy(head, '_bbox_forward', forwards)
        x, losses = run_loss(head, roi_batch)
        # image: 2 readonly passes + 1 trainable; batch: 1 + 1.
        assert len(forwards) == (3 if readonly_pass == 'image' else 2)
        runs.append((x, losses, dict(head.bbox_sampler.stats), head))
    (x_a, loss_a, stats_a, head_a), (x_b, loss_b, stats_b, head_b) = runs
    assert stats_a == pytest.approx(stats_b)
    for key in loss_a:
        torch.testing.assert_close(loss_a[key], loss_b[key])
    for a, b in zip(x_a, x_b):
        torch.testing.assert_close(a.grad, b.grad)


def test_readonly_pass_key_is_checked():
    cfg = small_detector_cfg(sampler=ohem_sampler(),
                             roi_head_type='OHEMRoIHead')
    cfg.roi_head.readonly_pass = 'per-image'
    with pytest.raises(ValueError, match='readonly_pass'):
        roi_head_of(cfg)


def all_losses(head, x, batch):
    """Every candidate's ranking loss, computed apart from the mining."""
    rois = bbox2roi([c.result.priors for c in batch])
    with torch.no_grad():
        out = head._bbox_forward(x, rois)
        return head.bbox_sampler.rank(out['cls_score'], out['bbox_pred'],
                                      rois, batch)


def greedy_nms(boxes, losses, thr):
    """Indices left by greedy NMS by loss (descending), brute force."""
    iou = bbox_overlaps(boxes, boxes)
    kept = []
    for i in torch.sort(losses, descending=True, stable=True)[1].tolist():
        if all(iou[i, j] <= thr for j in kept):
            kept.append(i)
    return kept


@pytest.mark.parametrize('readonly_pass', ['image', 'batch'])
def test_stats_are_the_picks_counted_by_hand(roi_batch, paper_sampler,
                                             readonly_pass):
    head = build_roi_head(paper_sampler, 'OHEMRoIHead')
    head.readonly_pass = readonly_pass
    x, proposals, samples = roi_batch
    batch = candidates_of(head, proposals, samples)
    mined = head.mine_hard_examples(x, batch)
    losses = all_losses(head, x, batch)
    num_pos = sum(len(p.pos_inds) for p in mined.picks)
    num = sum(len(p.pos_inds) + len(p.neg_inds) for p in mined.picks)
    assert num == 48 and 0 < num_pos < num
    assert mined.stats['num_picked'] == num / 2
    assert mined.stats['fg_share'] == pytest.approx(num_pos / num)
    assert mined.stats['num_candidates'] == len(losses) / 2
    assert mined.stats['loss_all'] == pytest.approx(float(losses.mean()))
    assert mined.stats['loss_picked'] == pytest.approx(
        float(mined.losses.mean()))
    assert mined.stats['loss_picked'] > mined.stats['loss_all']
    survivors = 0
    start = 0
    for c in batch:
        n = len(c.result.priors)
        survivors += len(
            greedy_nms(c.result.priors, losses[start:start + n], 0.7))
        start += n
    assert mined.stats['num_after_nms'] == survivors / 2


def test_batch_scope_picks_the_global_top_k(roi_batch):
    head = build_roi_head(ohem_sampler(num=24, scope='batch', nms_thr=0.7),
                          'OHEMRoIHead')
    x, proposals, samples = roi_batch
    batch = candidates_of(head, proposals, samples)
    mined = head.mine_hard_examples(x, batch)
    losses = all_losses(head, x, batch)
    # Brute force: NMS within each image, then the 48 hardest anywhere.
    survivors, start = [], 0
    for i, c in enumerate(batch):
        n = len(c.result.priors)
        survivors += [(float(losses[start + j]), i, start + j)
                      for j in greedy_nms(c.result.priors,
                                          losses[start:start + n], 0.7)]
        start += n
    top = sorted(survivors, key=lambda t: (-t[0], t[2]))[:48]
    expected = sorted(row for _, _, row in top)
    starts = [0, len(batch[0].result.priors)]
    got = sorted(
        starts[i] + r for i, (c, p) in enumerate(zip(batch, mined.picks))
        for r in torch.cat([
            torch.searchsorted(c.result.pos_inds, p.pos_inds),
            len(c.result.pos_inds) +
            torch.searchsorted(c.result.neg_inds, p.neg_inds)
        ]).tolist())
    assert got == expected
    per_image = [len(p.pos_inds) + len(p.neg_inds) for p in mined.picks]
    assert sum(per_image) == 48 and per_image != [24, 24]

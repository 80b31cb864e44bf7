"""The per-RoI ranking loss against a hand computation."""
import traceback

import pytest
import torch
import torch.nn.functional as F
from mmdet.registry import MODELS

from mmdet_ohem.ranking import (DECODED_BBOX_LOSSES, SUPPORTED_LOSSES,
                                check_per_roi_losses, ranking_loss)
from mmdet_ohem.testing import ohem_sampler, small_detector_cfg

NUM_CLASSES = 3


def build_head(**kwargs):
    cfg = dict(
        type='Shared2FCBBoxHead',
        in_channels=4,
        fc_out_channels=8,
        roi_feat_size=2,
        num_classes=NUM_CLASSES,
        bbox_coder=dict(
            type='DeltaXYWHBBoxCoder', target_stds=[1., 1., 1., 1.]),
        loss_cls=dict(type='CrossEntropyLoss', loss_weight=1.0),
        loss_bbox=dict(type='SmoothL1Loss', beta=1.0, loss_weight=1.0))
    cfg.update(kwargs)
    return MODELS.build(cfg)


def smooth_l1(x, beta=1.0):
    x = x.abs()
    return torch.where(x < beta, 0.5 * x * x / beta, x - 0.5 * beta)


@pytest.fixture
def tiny_case():
    torch.manual_seed(0)
    cls_score = torch.randn(3, NUM_CLASSES + 1)
    labels = torch.tensor([0, 2, NUM_CLASSES])  # two fg, one bg
    targets = torch.tensor([[.1, -.2, .3, 2.], [0., 1.5, -.4, .2],
                            [0., 0., 0., 0.]])
    weights = torch.tensor([[1.] * 4, [1.] * 4, [0.] * 4])
    rois = torch.tensor([[0, 0, 0, 10, 10], [0, 5, 5, 20, 30],
                         [0, 1, 1, 4, 4.]])
    return cls_score, labels, targets, weights, rois


def test_class_agnostic_equals_ce_plus_smooth_l1(tiny_case):
    cls_score, labels, targets, weights, rois = tiny_case
    head = build_head(reg_class_agnostic=True)
    bbox_pred = torch.tensor([[0., 0., 0., 0.], [.5, .5, .5, .5],
                              [9., 9., 9., 9.]])
    loss = ranking_loss(head, cls_score, bbox_pred, rois, labels, targets,
                        weights)
    ce = F.cross_entropy(cls_score, labels, reduction='none')
    box = smooth_l1(bbox_pred - targets).sum(1) * torch.tensor([1., 1., 0.])
    torch.testing.assert_close(loss, ce + box)
    # By hand for RoI 0: |x| = .1 .2 .3 2 -> .005 + .02 + .045 + 1.5
    torch.testing.assert_close(loss[0] - ce[0], torch.tensor(1.57))


def test_class_specific_uses_the_gt_class_deltas(tiny_case):
    cls_score, labels, targets, weights, rois = tiny_case
    head = build_head(reg_class_agnostic=False)
    bbox_pred = torch.arange(3 * 4 * NUM_CLASSES).float().view(3, -1) / 10
    loss = ranking_loss(head, cls_score, bbox_pred, rois, labels, targets,
                        weights)
    ce = F.cross_entropy(cls_score, labels, reduction='none')
    per_class = bbox_pred.view(3, NUM_CLASSES, 4)
    box0 = smooth_l1(per_class[0, 0] - targets[0]).sum()
    box1 = smooth_l1(per_class[1, 2] - targets[1]).sum()
    torch.testing.assert_close(loss, ce + torch.stack([box0, box1, ce[2] * 0]))


def test_cls_ranking_ignores_boxes_and_loss_weights_apply(tiny_case):
    cls_score, labels, targets, weights, rois = tiny_case
    head = build_head(
        reg_class_agnostic=True,
        loss_cls=dict(type='CrossEntropyLoss', loss_weight=2.0))
    bbox_pred = torch.ones(3, 4)
    loss = ranking_loss(
        head,
        cls_score,
        bbox_pred,
        rois,
        labels,
        targets,
        weights,
        ranking='cls')
    ce = F.cross_entropy(cls_score, labels, reduction='none')
    torch.testing.assert_close(loss, 2 * ce)


def test_decoded_iou_loss(tiny_case):
    cls_score, labels, _, _, rois = tiny_case
    head = build_head(
        reg_class_agnostic=True,
        reg_decoded_bbox=True,
        loss_bbox=dict(type='GIoULoss', loss_weight=1.0))
    gt = rois[:, 1:].clone()  # zero deltas decode to the RoI itself
    loss = ranking_loss(head, cls_score, torch.zeros(3, 4), rois, labels, gt,
                        torch.ones(3, 4))
    ce = F.cross_entropy(cls_score, labels, reduction='none')
    torch.testing.assert_close(loss, ce, atol=1e-5, rtol=0)
    shifted = gt + torch.tensor([5., 5., 5., 5.])
    assert (ranking_loss(head, cls_score, torch.zeros(3, 4), rois, labels,
                         shifted, torch.ones(3, 4))[:2] > ce[:2]).all()


def sigmoid_focal(x, labels, gamma=2.0, alpha=0.25):
    """Sigmoid focal loss per RoI and class, by the paper's formula; the
    background label (``NUM_CLASSES``) is negative for every class."""
    t = (labels[:, None] == torch.arange(x.shape[1])).float()
    p = x.sigmoid()
    pt = torch.where(t > 0, p, 1 - p)
    alpha_t = torch.where(t > 0, torch.tensor(alpha), torch.tensor(1 - alpha))
    return -alpha_t * (1 - pt)**gamma * pt.log()


def test_sigmoid_focal_loss_is_summed_per_roi(tiny_case):
    # mmdet's OHEMSampler crashes here with 'k not in range' (#6129).
    _, labels, targets, weights, rois = tiny_case
    head = build_head(loss_cls=dict(type='FocalLoss', use_sigmoid=True))
    check_per_roi_losses(head)
    torch.manual_seed(1)
    # Sigmoid: one channel per class, no background channel.
    cls_score = torch.randn(3, NUM_CLASSES) * 3
    bbox_pred = torch.randn(3, 4 * NUM_CLASSES)
    loss = ranking_loss(head, cls_score, bbox_pred, rois, labels, targets,
                        weights)
    cls_part = sigmoid_focal(cls_score, labels).sum(1)
    fg = labels < NUM_CLASSES
    per_class = bbox_pred.view(3, NUM_CLASSES, 4)
    box_part = torch.stack([
        smooth_l1(per_class[i, labels[i]] - targets[i]).sum() if fg[i] else
        torch.tensor(0.) for i in range(3)
    ])
    torch.testing.assert_close(loss, cls_part + box_part)
    # Every class term counts: the background RoI pays for all of them.
    assert (sigmoid_focal(cls_score, labels)[2] > 0).all()
    assert (box_part[:2] > 0).all()


def test_loss_without_per_roi_values_names_the_config_key():
    head = build_head()
    head.loss_cls.forward = lambda *args, **kwargs: torch.tensor(1.)
    with pytest.raises(ValueError, match='bbox_head.loss_cls'):
        check_per_roi_losses(head)


@pytest.mark.parametrize(
    'key,loss', [('loss_cls', n) for n in SUPPORTED_LOSSES['loss_cls']] +
    [('loss_bbox', n) for n in SUPPORTED_LOSSES['loss_bbox']])
def test_every_loss_named_as_supported_ranks_per_roi(key, loss):
    cfg = dict(type=loss)
    if loss == 'CrossEntropyCustomLoss':
        cfg.update(num_classes=NUM_CLASSES, use_sigmoid=True)
    head = build_head(**{key: cfg},
                      reg_decoded_bbox=loss in DECODED_BBOX_LOSSES)
    check_per_roi_losses(head)


def test_unsupported_cls_loss_is_one_message_naming_it_and_the_fix():
    cfg = small_detector_cfg(sampler=ohem_sampler(16))
    cfg.roi_head.bbox_head.loss_cls = dict(
        type='QualityFocalLoss', use_sigmoid=True, beta=2.0)
    with pytest.raises(ValueError) as info:
        MODELS.build(cfg)
    msg = str(info.value)
    assert '`bbox_head.loss_cls` (QualityFocalLoss)' in msg
    assert 'Set `bbox_head.loss_cls` to one of: CrossEntropyLoss, ' \
        'FocalLoss' in msg
    # The loss's bare `assert` shows as its source line, not as an empty
    # message, and no internal traceback is chained under the error.
    assert 'AssertionError: ' not in msg and '`assert ' in msg
    exc = info.value
    assert exc.__cause__ is None and exc.__suppress_context__
    printed = ''.join(traceback.format_exception(exc))
    assert printed.count('Traceback (most recent call last)') == 1

"""The per-RoI ranking loss of OHEM, for any MMDetection ``BBoxHead``.

OHEM (`arXiv:1604.03540 <https://arxiv.org/abs/1604.03540>`_) ranks RoIs by
their full Fast R-CNN loss: classification plus box regression (the box term
only for foreground). The loss functions are the head's own ``loss_cls`` and
``loss_bbox`` with ``reduction_override='none'``, so their ``loss_weight``,
``reg_decoded_bbox`` and IoU-type box losses are honoured.
"""
import os.path as osp
import traceback
from typing import Optional

import torch
from mmdet.models.roi_heads.bbox_heads import BBoxHead
from mmdet.structures.bbox import get_box_tensor
from torch import Tensor

RANKINGS = ('cls', 'cls+bbox')

# mmdet losses that give one value per RoI from the Fast R-CNN head's
# targets (tests/test_ranking_loss.py builds each one); named in errors.
SUPPORTED_LOSSES = dict(
    loss_cls=('CrossEntropyLoss', 'FocalLoss', 'GHMC',
              'CrossEntropyCustomLoss'),
    loss_bbox=('SmoothL1Loss', 'L1Loss', 'BalancedL1Loss', 'MSELoss', 'GHMR',
               'BoundedIoULoss', 'IoULoss', 'GIoULoss', 'DIoULoss',
               'CIoULoss', 'EIoULoss'))
# Box losses on decoded boxes: they need `reg_decoded_bbox=True`.
DECODED_BBOX_LOSSES = ('IoULoss', 'GIoULoss', 'DIoULoss', 'CIoULoss',
                       'EIoULoss')


def _what_to_do(key: str) -> str:
    """The fix of an unsupported ``bbox_head.<key>``, for error messages."""
    todo = f'Set `bbox_head.{key}` to one of: ' + \
        ', '.join(SUPPORTED_LOSSES[key])
    if key == 'loss_bbox':
        todo += ' (the IoU ones with `reg_decoded_bbox=True`); or rank by ' \
            "loss_cls only (the sampler's `ranking='cls'`)"
    return todo + '.'


def check_ranking(ranking: str) -> None:
    """Raise a ``ValueError`` for an unknown ``ranking`` key."""
    if ranking not in RANKINGS:
        raise ValueError(
            f'`ranking` must be one of {RANKINGS}, got {ranking!r}')


class PerRoILossError(ValueError):
    """A head's loss cannot give OHEM one value per RoI (names the key)."""


def _per_roi(loss: Tensor, num_rois: int, key: str, name: str) -> Tensor:
    """Reduce an unreduced loss to one value per RoI, or say why not."""
    if isinstance(loss, Tensor) and loss.dim() >= 1 and \
            loss.shape[0] == num_rois:
        # (n, C) per-class terms (sigmoid CE / Focal) or (n, 4) per-coord
        # terms (smooth-L1) add up to the RoI's loss. flatten, not
        # reshape(n, -1): the latter is ambiguous for an image with 0 RoIs.
        return loss.flatten(1).sum(dim=1) if loss.dim() > 1 else loss
    shape = tuple(loss.shape) if isinstance(loss, Tensor) else type(loss)
    raise PerRoILossError(
        f'OHEM needs one loss value per RoI, but `bbox_head.{key}` ({name}) '
        f'returned {shape} for {num_rois} RoIs with reduction_override='
        '"none". '
        + _what_to_do(key))


def ranking_loss(head: BBoxHead,
                 cls_score: Tensor,
                 bbox_pred: Optional[Tensor],
                 rois: Tensor,
                 labels: Tensor,
                 bbox_targets: Tensor,
                 bbox_weights: Tensor,
                 ranking: str = 'cls+bbox') -> Tensor:
    """Per-RoI loss used to rank candidates (no reduction).

    Args:
        head (BBoxHead): Whose ``loss_cls``, ``loss_bbox``, ``bbox_coder``
            and class layout define the loss.
        cls_score (Tensor): Class scores, shape (n, cls_channels).
        bbox_pred (Tensor, optional): Box deltas, shape (n, 4) when
            class-agnostic, else (n, 4 * num_classes).
        rois (Tensor): RoIs, shape (n, 5), first column the image index.
        labels (Tensor): Targets in [0, num_classes]; ``num_classes`` is
            background.
        bbox_targets (Tensor): Regression targets, shape (n, reg_dim).
        bbox_weights (Tensor): Regression weights, shape (n, reg_dim).
        ranking (str): ``'cls+bbox'`` (the paper) or ``'cls'`` (as
            MMDetection's ``OHEMSampler``).

    Returns:
        Tensor: ``loss_cls + loss_bbox`` of each RoI, shape (n, ); the box
        term is 0 for background RoIs and with ``ranking='cls'``.
    """
    check_ranking(ranking)
    num_rois = cls_score.shape[0]
    loss = _per_roi(
        head.loss_cls(
            cls_score,
            labels,
            cls_score.new_ones(num_rois),
            reduction_override='none'), num_rois, 'loss_cls',
        type(head.loss_cls).__name__)
    if ranking == 'cls' or bbox_pred is None or num_rois == 0:
        return loss

    # Every RoI goes through the box loss and the background ones are
    # masked out after, rather than indexing the foreground ones: a
    # boolean index would wait for the device (a host sync) each call.
    pos = (labels >= 0) & (labels < head.num_classes)
    pred = bbox_pred
    if head.reg_decoded_bbox:
        pred = get_box_tensor(head.bbox_coder.decode(rois[:, 1:], pred))
    if not head.reg_class_agnostic:
        # A background RoI reads class 0's deltas; it is masked below.
        cls = torch.where(pos, labels, labels.new_zeros(()))
        pred = pred.view(
            num_rois, head.num_classes, pred.shape[1] //
            head.num_classes)[torch.arange(num_rois, device=pred.device), cls]
    # Unit weights for the background rows: IoU-type losses return a
    # scalar when every weight is 0.
    weights = torch.where(pos[:, None], bbox_weights, bbox_weights.new_ones(
        ()))
    loss_bbox = _per_roi(
        head.loss_bbox(pred, bbox_targets, weights, reduction_override='none'),
        num_rois, 'loss_bbox', type(head.loss_bbox).__name__)
    return loss + torch.where(pos, loss_bbox.to(loss.dtype), loss.new_zeros(
        ()))


def check_per_roi_losses(bbox_head: BBoxHead,
                         ranking: str = 'cls+bbox') -> None:
    """Fail at build time if the head's losses give no per-RoI value.

    Runs :func:`ranking_loss` on two dummy RoIs, so
    a config error surfaces when the model is built, not mid-training.
    Whatever goes wrong (a reduced or dict-valued loss, a loss that wants
    soft or quality targets) is raised as one ``ValueError`` naming the key,
    the loss, why it failed and the supported losses (``SUPPORTED_LOSSES``).

    Args:
        bbox_head (BBoxHead): The head whose losses rank the RoIs.
        ranking (str): ``'cls'`` checks ``loss_cls`` only, since the box
            loss then never ranks; ``'cls+bbox'`` checks both.
    """
    check_ranking(ranking)
    with torch.no_grad():
        num_classes = bbox_head.num_classes
        cls_channels = bbox_head.loss_cls.get_cls_channels(num_classes) \
            if bbox_head.custom_cls_channels else num_classes + 1
        rois = torch.tensor([[0., 0., 0., 8., 8.], [0., 2., 2., 9., 9.]])
        pred_dim = bbox_head.bbox_coder.encode_size
        if not bbox_head.reg_class_agnostic:
            pred_dim *= num_classes
        # Decoded-box losses regress to absolute boxes, others to deltas.
        targets = rois[:, 1:] if bbox_head.reg_decoded_bbox else \
            torch.zeros(2, bbox_head.bbox_coder.encode_size)
        # 'cls' first, so a failure of the full ranking is the box loss's.
        probes = (('loss_cls', 'cls', 'integer class labels'),
                  ('loss_bbox', 'cls+bbox', 'box targets of foreground RoIs'))
        for key, probe, targets_are in probes[:RANKINGS.index(ranking) + 1]:
            try:
                ranking_loss(
                    bbox_head,
                    torch.zeros(2, cls_channels),
                    torch.zeros(2, pred_dim),
                    rois,
                    torch.tensor([0, num_classes]),
                    targets,
                    torch.ones_like(targets),
                    ranking=probe)
            except PerRoILossError:
                raise
            except Exception as exc:
                # One message, not the loss's internal traceback (often a
                # bare AssertionError) chained under it.
                loss = type(getattr(bbox_head, key)).__name__
                raise PerRoILossError(
                    f'OHEM cannot rank RoIs by `bbox_head.{key}` ({loss}): '
                    f'it ranks each RoI by the head\'s loss with '
                    f'reduction_override="none" and {targets_are}, and '
                    f'{loss} failed on them ({_failure(exc)}); it likely '
                    'needs other targets (e.g. soft or quality scores). '
                    + _what_to_do(key)) from None


def _failure(exc: Exception) -> str:
    """``exc`` in one line; the failing source line if it has no message
    (a bare ``assert``)."""
    text = f'{type(exc).__name__}: {exc}' if str(exc) else type(exc).__name__
    frames = traceback.extract_tb(exc.__traceback__)
    if not str(exc) and frames:
        where = frames[-1]
        text += f' at {osp.basename(where.filename)}:{where.lineno}: ' \
            f'`{where.line}`'
    return text

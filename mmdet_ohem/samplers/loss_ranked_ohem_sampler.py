"""Paper-faithful OHEM as an MMDetection sampler."""
import warnings
from collections import Counter
from contextlib import contextmanager
from typing import Iterator, List, NamedTuple, Optional

import torch
from mmdet.models.task_modules.assigners import AssignResult
from mmdet.models.task_modules.samplers import BaseSampler, SamplingResult
from mmdet.registry import TASK_UTILS
from mmdet.structures.bbox import bbox2roi, cat_boxes, get_box_tensor
from mmengine.config import ConfigDict
from mmengine.logging import MessageHub
from mmengine.structures import InstanceData
from torch import Tensor

from ..bbox_heads.loss_ranked_mixin import (RANKINGS, LossRankedBBoxHeadMixin,
                                            PerRoILossError, check_ranking)
from ..mining import check_mining_args, select_hard_examples


class Candidates(NamedTuple):
    """Every RoI of one image that OHEM may pick (ignored ones excluded).

    ``result`` holds all positives then all negatives, in the order that
    ``bbox2roi([c.result.priors for c in batch])`` feeds the RoI head.
    """
    result: SamplingResult
    priors: Tensor
    gt_bboxes: Tensor
    assign_result: AssignResult
    gt_flags: Tensor


@TASK_UTILS.register_module()
class LossRankedOHEMSampler(BaseSampler):
    """Online Hard Example Mining as in the paper, `Training Region-based
    Object Detectors with Online Hard Example Mining
    <https://arxiv.org/abs/1604.03540>`_.

    A drop-in for MMDetection's ``OHEMSampler`` (same keys, same
    ``context``). What differs, each switchable for comparisons:

    - ``ranking='cls+bbox'``: RoIs are ranked by CE + box loss, not CE only;
    - ``nms_thr=0.7``: NMS with the loss as score removes near-duplicates;
    - ``pos_fraction=None``: no foreground quota (all candidates compete);
    - one readonly head pass over all candidates of the image instead of
      one for the positives and one for the negatives.

    With ``ranking='cls', nms_thr=None`` and a ``pos_fraction`` it picks
    exactly what ``OHEMSampler`` picks. ``OHEMRoIHead`` uses
    :meth:`candidates`, :meth:`rank` and :meth:`select` to mine the batch
    without extracting the picks' RoI features a second time.

    Args:
        num (int): RoIs kept per image (paper: B/N = 128/2 = 64).
        pos_fraction (float, optional): Foreground quota; ``None`` = none.
        context (BaseRoIHead): The RoI head owning this sampler (set by
            the head through ``default_args``).
        neg_pos_ub (float): Max negatives per positive with a quota; -1:
            no bound.
        add_gt_as_proposals (bool): Add the gt boxes to the candidates.
        ranking (str): ``'cls+bbox'`` (paper) or ``'cls'`` (mmdet).
        nms_thr (float, optional): IoU of the NMS by loss; ``None``: off.
        scope (str): ``'image'`` (top ``num`` of each image, the paper) or
            ``'batch'`` (top ``num * N`` of the batch; only differs under
            ``OHEMRoIHead``, which mines the batch at once).
        warmup_iters (int): Training iterations (the runner's, so a resumed
            run continues the count) during which the picks are random, with
            a ``warmup_pos_fraction`` quota, as mmdet's ``RandomSampler``
            picks. The paper fine-tunes ImageNet-pretrained networks; from
            scratch every RoI is hard at first. 0 (default): none.
        warmup_pos_fraction (float): The quota of the warm-up picks.
    """

    def __init__(self,
                 num: int,
                 pos_fraction: Optional[float] = None,
                 context=None,
                 neg_pos_ub: float = -1,
                 add_gt_as_proposals: bool = True,
                 ranking: str = 'cls+bbox',
                 nms_thr: Optional[float] = 0.7,
                 scope: str = 'image',
                 warmup_iters: int = 0,
                 warmup_pos_fraction: float = 0.25,
                 **kwargs) -> None:
        check_mining_args(num, nms_thr, pos_fraction, neg_pos_ub, scope)
        if not 0 <= warmup_pos_fraction <= 1:
            raise ValueError('`warmup_pos_fraction` must be in [0, 1], got '
                             f'{warmup_pos_fraction!r}')
        if isinstance(warmup_iters, bool) or not isinstance(
                warmup_iters, int) or warmup_iters < 0:
            raise ValueError('`warmup_iters` must be an int >= 0, got '
                             f'{warmup_iters!r}')
        check_ranking(ranking)
        super().__init__(num, pos_fraction, neg_pos_ub, add_gt_as_proposals)
        if context is None or not hasattr(context, '_bbox_forward'):
            raise TypeError(
                f'{type(self).__name__} ranks RoIs with an RoI head\'s bbox '
                f'head, but it was built for {type(context).__name__}; use '
                'it only as `train_cfg.rcnn.sampler` (not '
                '`train_cfg.rpn.sampler`).')
        self.context = context
        self.stage = getattr(context, 'current_stage', None)
        self.ranking = ranking
        self.nms_thr = nms_thr
        self.scope = scope
        self.warmup_iters = warmup_iters
        self.warmup_pos_fraction = warmup_pos_fraction
        self.stats: dict = {}
        self._batch_totals: Optional[Counter] = None
        self._warned_non_finite = False
        check_per_roi_losses(self.bbox_head, ranking)

    @property
    def bbox_head(self):
        """The bbox head this sampler ranks for (its stage's in a cascade)."""
        head = self.context.bbox_head
        return head if self.stage is None else head[self.stage]

    def candidates(self, assign_result: AssignResult,
                   pred_instances: InstanceData,
                   gt_instances: InstanceData) -> Candidates:
        """All positives and negatives of one image, gt boxes first.

        Args:
            assign_result (AssignResult): Assignment of the priors.
            pred_instances (InstanceData): Has ``priors`` (proposals).
            gt_instances (InstanceData): Has ``bboxes`` and ``labels``.

        Returns:
            Candidates: Every non-ignored RoI of the image.
        """
        gt_bboxes = gt_instances.bboxes
        priors = pred_instances.priors
        if len(priors.shape) < 2:
            priors = priors[None, :]
        gt_flags = priors.new_zeros((priors.shape[0], ), dtype=torch.uint8)
        if self.add_gt_as_proposals and len(gt_bboxes) > 0:
            gt_as_priors = gt_bboxes.convert_to(type(priors)) if \
                hasattr(gt_bboxes, 'convert_to') and \
                hasattr(priors, 'convert_to') else gt_bboxes
            priors = cat_boxes([gt_as_priors, priors], dim=0)
            assign_result.add_gt_(gt_instances.labels)
            gt_flags = torch.cat([
                priors.new_ones(len(gt_bboxes), dtype=torch.uint8), gt_flags
            ])
        pos_inds = torch.nonzero(assign_result.gt_inds > 0, as_tuple=True)[0]
        neg_inds = torch.nonzero(assign_result.gt_inds == 0,
                                 as_tuple=True)[0]
        result = SamplingResult(pos_inds, neg_inds, priors, gt_bboxes,
                                assign_result, gt_flags)
        return Candidates(result, priors, gt_bboxes, assign_result, gt_flags)

    def rank(self, cls_score: Tensor, bbox_pred: Optional[Tensor],
             rois: Tensor, batch: List[Candidates]) -> Tensor:
        """Per-RoI ranking loss of the candidates of a batch.

        Args:
            cls_score (Tensor): Readonly-pass class scores of ``rois``.
            bbox_pred (Tensor, optional): Readonly-pass box deltas.
            rois (Tensor): ``bbox2roi`` of the candidates' priors.
            batch (list[Candidates]): Candidates of each image.

        Returns:
            Tensor: Loss of each RoI, shape (len(rois), ).
        """
        head = self.bbox_head
        # pos_weight only scales label weights, which ranking ignores.
        labels, _, bbox_targets, bbox_weights = head.get_targets(
            [c.result for c in batch], ConfigDict(pos_weight=-1))
        return LossRankedBBoxHeadMixin.ranking_loss(
            head, cls_score, bbox_pred, rois, labels, bbox_targets,
            bbox_weights, ranking=self.ranking)

    @property
    def in_warmup(self) -> bool:
        """Whether the runner's current iteration is a warm-up one.

        The iteration is the one mmengine's ``RuntimeInfoHook`` publishes
        in the message hub; outside a runner there is no warm-up.
        """
        if not self.warmup_iters:
            return False
        it = MessageHub.get_current_instance().get_info('iter')
        return it is not None and it < self.warmup_iters

    def select(self, batch: List[Candidates],
               losses: Tensor) -> List[SamplingResult]:
        """Keep the hardest candidates of each image (see ``mining.py``).

        Args:
            batch (list[Candidates]): Candidates of each image.
            losses (Tensor): Their ranking losses, in ``rois`` order.

        Returns:
            list[SamplingResult]: The picks of each image, for the
            trainable pass.
        """
        results = [c.result for c in batch]
        sizes = [len(r.pos_inds) + len(r.neg_inds) for r in results]
        boxes = get_box_tensor(cat_boxes([r.priors for r in results]))
        img_inds = torch.cat([
            torch.full((n, ), i, dtype=torch.long, device=losses.device)
            for i, n in enumerate(sizes)
        ])
        is_pos = torch.cat([
            torch.arange(n, device=losses.device) < len(r.pos_inds)
            for n, r in zip(sizes, results)
        ])
        self._warn_non_finite(losses)
        if self.in_warmup:
            # Random scores through the same rule: RandomSampler's picks.
            # Non-finite-loss RoIs keep their score: still never picked.
            scores = torch.where(torch.isfinite(losses),
                                 torch.rand_like(losses), losses)
            kept, num_after_nms = select_hard_examples(
                scores, boxes,
                img_inds, self.num, nms_thr=None, is_pos=is_pos,
                pos_fraction=self.warmup_pos_fraction, num_imgs=len(batch),
                return_num_after_nms=True)
        else:
            kept, num_after_nms = select_hard_examples(
                losses, boxes, img_inds, self.num, nms_thr=self.nms_thr,
                scope=self.scope, is_pos=is_pos,
                pos_fraction=self.pos_fraction, neg_pos_ub=self.neg_pos_ub,
                num_imgs=len(batch), return_num_after_nms=True)
        self._record_stats(losses, kept, is_pos, num_after_nms, len(batch))

        picked = []
        offsets = [0] + torch.tensor(sizes).cumsum(0).tolist()
        for i, c in enumerate(batch):
            local = kept[img_inds[kept] == i] - offsets[i]
            num_pos = len(c.result.pos_inds)
            pos_inds = c.result.pos_inds[local[local < num_pos]]
            neg_inds = c.result.neg_inds[local[local >= num_pos] - num_pos]
            # Sorted like BaseSampler's unique(), so results compare 1:1.
            picked.append(
                SamplingResult(
                    pos_inds.sort()[0], neg_inds.sort()[0], c.priors,
                    c.gt_bboxes, c.assign_result, c.gt_flags))
        return picked

    def sample(self,
               assign_result: AssignResult,
               pred_instances: InstanceData,
               gt_instances: InstanceData,
               feats: Optional[List[Tensor]] = None,
               **kwargs) -> SamplingResult:
        """Mine one image, as ``StandardRoIHead``/``CascadeRoIHead`` ask.

        Args:
            assign_result (AssignResult): Assignment of the priors.
            pred_instances (InstanceData): Has ``priors``.
            gt_instances (InstanceData): Has ``bboxes`` and ``labels``.
            feats (list[Tensor]): Multi-level features of this image.

        Returns:
            SamplingResult: The hardest RoIs of the image.
        """
        if feats is None:
            raise ValueError(f'{type(self).__name__}.sample needs `feats`')
        cands = self.candidates(assign_result, pred_instances, gt_instances)
        rois = bbox2roi([cands.result.priors])
        with torch.no_grad():
            if self.stage is None:
                out = self.context._bbox_forward(feats, rois)
            else:
                out = self.context._bbox_forward(self.stage, feats, rois)
            losses = self.rank(out['cls_score'], out['bbox_pred'], rois,
                               [cands])
        return self.select([cands], losses)[0]

    def _sample_pos(self, *args, **kwargs):
        raise NotImplementedError('ranked jointly in `select`')

    def _sample_neg(self, *args, **kwargs):
        raise NotImplementedError('ranked jointly in `select`')

    def _warn_non_finite(self, losses: Tensor) -> None:
        """Warn once per sampler that NaN/inf-loss RoIs are being skipped."""
        if self._warned_non_finite or torch.isfinite(losses).all():
            return
        self._warned_non_finite = True
        warnings.warn(
            f'{int((~torch.isfinite(losses)).sum())} RoIs have a NaN/inf '
            'OHEM ranking loss; they are never picked (warned once).')

    @contextmanager
    def batch_stats(self) -> Iterator[None]:
        """Make :attr:`stats` cover every :meth:`select` call in the block.

        ``OHEMRoIHead`` selects image by image (to hold one image's RoI
        features at a time); the stats are still the batch's.
        """
        self._batch_totals = Counter()
        try:
            yield
        finally:
            self._batch_totals = None

    def _record_stats(self, losses: Tensor, kept: Tensor, is_pos: Tensor,
                      num_after_nms: int, num_imgs: int) -> None:
        """Numbers for ``MiningStatsHook``: what the picks look like.

        Counts are per image, so runs with other batch sizes compare.
        """
        finite = losses[torch.isfinite(losses)]
        totals = Counter(
            imgs=num_imgs,
            candidates=losses.numel(),
            after_nms=num_after_nms,
            picked=kept.numel(),
            picked_pos=int(is_pos[kept].sum()),
            # Picks are always finite (non-finite losses are never kept).
            loss_picked=float(losses[kept].double().sum()),
            loss_all=float(finite.double().sum()),
            finite=finite.numel())
        if self._batch_totals is not None:
            self._batch_totals.update(totals)
            totals = self._batch_totals
        imgs, picked = max(totals['imgs'], 1), totals['picked']
        self.stats = dict(
            num_candidates=totals['candidates'] / imgs,
            num_after_nms=totals['after_nms'] / imgs,
            num_picked=picked / imgs,
            fg_share=totals['picked_pos'] / picked if picked else 0.,
            loss_picked=totals['loss_picked'] / picked if picked else 0.,
            loss_all=totals['loss_all'] /
            totals['finite'] if totals['finite'] else 0.)


def check_per_roi_losses(bbox_head, ranking: str = 'cls+bbox') -> None:
    """Fail at build time if the head's losses give no per-RoI value.

    Runs :meth:`LossRankedBBoxHeadMixin.ranking_loss` on two dummy RoIs, so
    a config error surfaces when the model is built, not mid-training.
    Whatever goes wrong (a reduced or dict-valued loss, a loss that wants
    soft or quality targets) is raised as a ``ValueError`` naming the key.

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
                LossRankedBBoxHeadMixin.ranking_loss(
                    bbox_head, torch.zeros(2, cls_channels),
                    torch.zeros(2, pred_dim), rois,
                    torch.tensor([0, num_classes]), targets,
                    torch.ones_like(targets), ranking=probe)
            except PerRoILossError:
                raise
            except Exception as exc:
                loss = getattr(bbox_head, key)
                raise PerRoILossError(
                    f'OHEM ranks RoIs by `bbox_head.{key}` '
                    f'({type(loss).__name__}) with reduction_override='
                    f'"none" and {targets_are}, which failed on two dummy '
                    f'RoIs: {type(exc).__name__}: {exc}') from exc

"""Paper-faithful OHEM as an MMDetection sampler."""
import warnings
from collections import Counter
from contextlib import contextmanager
from functools import partial
from typing import Callable, Iterator, List, NamedTuple, Optional

import torch
from mmdet.models.task_modules.assigners import AssignResult
from mmdet.models.task_modules.samplers import BaseSampler, SamplingResult
from mmdet.registry import TASK_UTILS
from mmdet.structures.bbox import bbox2roi, cat_boxes, get_box_tensor
from mmengine.config import ConfigDict
from mmengine.logging import MessageHub
from mmengine.structures import InstanceData
from torch import Tensor

from ..mining import MiningSettings, select_hard_examples
from ..ranking import check_per_roi_losses, check_ranking, ranking_loss
from ..utils.strict_keys import check_unknown_keys

# pos_weight only scales label weights, which ranking ignores.
_TARGETS_CFG = ConfigDict(pos_weight=-1)

# Keys of mmdet's OHEMSampler that mean something else here.
_FOREIGN_KEYS = dict(
    loss_key='it is mmdet OHEMSampler\'s key; set `ranking` instead '
    '(`ranking=\'cls\'` ranks as OHEMSampler\'s `loss_key=\'loss_cls\'`).')


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


class Picks(NamedTuple):
    """What :meth:`LossRankedOHEMSampler.pick` chose from candidates.

    ``results`` are the picks of each image; ``rows`` index them in the
    candidates' ``bbox2roi`` rows, in the order of
    ``bbox2roi([r.priors for r in results])`` (per image the picked
    positives, then the picked negatives), so the readonly pass's outputs
    of the picks are ``out[rows]``.
    """
    results: List[SamplingResult]
    rows: Tensor


class MiningResult(NamedTuple):
    """What :meth:`LossRankedOHEMSampler.mine` mined from candidates (and
    ``OHEMRoIHead.mine_hard_examples`` from a batch).

    ``feats`` and ``losses`` are in the order of
    ``bbox2roi([p.priors for p in picks])``: per image the picked
    positives, then the picked negatives, each by ascending candidate index.
    """
    picks: List[SamplingResult]
    """The picks of each image, for the trainable pass."""
    feats: Optional[Tensor]
    """Their RoI features from the readonly pass (for
    ``replay_roi_features``); ``None`` unless asked for (``OHEMRoIHead``
    asks when its extractor can be replayed and no shared head transforms
    them)."""
    losses: Tensor
    """Their ranking losses."""
    stats: dict
    """The sampler's mining stats (``MiningStatsHook``): of the batch so
    far inside :meth:`LossRankedOHEMSampler.batch_stats`."""


def _setting(key: str) -> property:
    """A read-only view of ``settings.<key>``."""
    return property(lambda self: getattr(self.settings, key),
                    doc=f'``settings.{key}`` (read-only).')


@TASK_UTILS.register_module()
class LossRankedOHEMSampler(BaseSampler):
    """Online Hard Example Mining as in the paper, `Training Region-based
    Object Detectors with Online Hard Example Mining
    <https://arxiv.org/abs/1604.03540>`_.

    A drop-in for MMDetection's ``OHEMSampler`` (same keys, same
    ``context``). What differs, each switchable for comparisons:

    - ``ranking='cls+bbox'``: RoIs are ranked by CE + box loss, not CE only;
    - ``nms_thr=0.5``: NMS with the loss as score removes near-duplicates,
      per image and per label as in the authors' code (``nms_per_label``);
      the paper's 0.7 assumed proposals without NMS of their own, while
      RPN proposals come out of an NMS at 0.7 (docs/components.md);
    - ``pos_fraction=None``: no foreground quota (all candidates compete);
    - one readonly head pass over all candidates of the image instead of
      one for the positives and one for the negatives.

    With ``ranking='cls', nms_thr=None`` and a ``pos_fraction`` it picks
    exactly what ``OHEMSampler`` picks. It is the mining policy: which RoIs
    are candidates (:meth:`candidates`), how they rank (:meth:`rank`) and
    which are kept (:meth:`pick`, by ``mining.select_hard_examples``).
    :meth:`mine` runs the readonly pass, ranks and picks; :meth:`sample`
    (for ``StandardRoIHead`` / ``CascadeRoIHead``, one image) and
    ``OHEMRoIHead`` (the batch, without extracting the picks' RoI features
    a second time) both mine through it.

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
        nms_per_label (bool): NMS by loss per image *and per label*
            (background a label of its own), as the authors' code does:
            a hard negative never suppresses a positive, nor a positive a
            negative (default, and the shipped configs' setting).
            ``False``: class-agnostic NMS per image.
        random_fraction (float): Share of each image's ``num`` drawn at
            random (a ``random_pos_fraction`` quota, RandomSampler's rule)
            from the candidates the hard picks left. The shipped configs
            use 0.5 (README, Results). 0 (default), so that the sampler on
            its own mines as the paper does, every pick by loss. The
            authors' code leaves "e.g., sampling" as a way to explore.
        random_pos_fraction (float): Foreground quota of the random share.
            Defaults to 0.25 (``RandomSampler``'s 1:3).
        warmup_iters (int): Training iterations (the runner's, so a resumed
            run continues the count) during which the picks are random, with
            a ``warmup_pos_fraction`` quota, as mmdet's ``RandomSampler``
            picks. The paper fine-tunes ImageNet-pretrained networks; from
            scratch every RoI is hard at first. 0 (default): none.
        warmup_pos_fraction (float): The quota of the warm-up picks.

    Unlike mmdet's ``BaseSampler``, which swallows ``**kwargs``, it refuses
    a key it does not use (``TypeError`` naming the closest valid key): a
    misspelt ``nms_thres`` or ``random_fracton`` would otherwise train
    silently with the default. The only key a head adds is ``context``.
    """

    def __init__(self,
                 num: int,
                 pos_fraction: Optional[float] = None,
                 context=None,
                 neg_pos_ub: float = -1,
                 add_gt_as_proposals: bool = True,
                 ranking: str = 'cls+bbox',
                 nms_thr: Optional[float] = 0.5,
                 scope: str = 'image',
                 nms_per_label: bool = True,
                 random_fraction: float = 0.,
                 random_pos_fraction: float = 0.25,
                 warmup_iters: int = 0,
                 warmup_pos_fraction: float = 0.25,
                 **kwargs) -> None:
        check_unknown_keys(LossRankedOHEMSampler, kwargs, _FOREIGN_KEYS)
        # Checks every mining key, naming a bad one.
        self.settings = MiningSettings(
            num=num, nms_thr=nms_thr, nms_per_label=nms_per_label,
            scope=scope, pos_fraction=pos_fraction, neg_pos_ub=neg_pos_ub,
            random_fraction=random_fraction,
            random_pos_fraction=random_pos_fraction)
        if not 0 <= warmup_pos_fraction <= 1:
            raise ValueError('`warmup_pos_fraction` must be in [0, 1], got '
                             f'{warmup_pos_fraction!r}')
        if isinstance(warmup_iters, bool) or not isinstance(
                warmup_iters, int) or warmup_iters < 0:
            raise ValueError('`warmup_iters` must be an int >= 0, got '
                             f'{warmup_iters!r}')
        # The warm-up picks as RandomSampler's: random scores, its quota.
        self.warmup_settings = MiningSettings(
            num=num, nms_thr=None, nms_per_label=False,
            pos_fraction=warmup_pos_fraction)
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
        self.warmup_iters = warmup_iters
        self.stats: dict = {}
        self._batch_totals: Optional[Counter] = None
        self._warned_non_finite = False
        self._warned_malformed = False
        self.num_malformed = 0
        check_per_roi_losses(self.bbox_head, ranking)

    # The mining keys read as the config named them, from the settings
    # (read-only: the settings are built and checked once).
    nms_thr = _setting('nms_thr')
    nms_per_label = _setting('nms_per_label')
    scope = _setting('scope')
    random_fraction = _setting('random_fraction')
    random_pos_fraction = _setting('random_pos_fraction')

    @property
    def bbox_head(self):
        """The bbox head this sampler ranks for (its stage's in a cascade)."""
        head = self.context.bbox_head
        return head if self.stage is None else head[self.stage]

    def candidates(self, assign_results: List[AssignResult],
                   pred_instances: List[InstanceData],
                   gt_instances: List[InstanceData]) -> List[Candidates]:
        """All positives and negatives of each image, gt boxes first.

        Each image's rows are split into positives, negatives and ignored
        ones by one sort over the batch and one read of the counts (one
        host sync), instead of two ``nonzero`` calls (two syncs) per image.

        Args:
            assign_results (list[AssignResult]): Assignment of each image.
            pred_instances (list[InstanceData]): Have ``priors``.
            gt_instances (list[InstanceData]): Have ``bboxes``, ``labels``.

        Returns:
            list[Candidates]: Every non-ignored, well-formed RoI of each
            image (see :func:`malformed_boxes`).
        """
        images = []
        for assign_result, pred, gt in zip(assign_results, pred_instances,
                                           gt_instances):
            gt_bboxes, priors = gt.bboxes, pred.priors
            if len(priors.shape) < 2:
                priors = priors[None, :]
            gt_flags = priors.new_zeros((priors.shape[0], ),
                                        dtype=torch.uint8)
            if self.add_gt_as_proposals and len(gt_bboxes) > 0:
                gt_as_priors = gt_bboxes.convert_to(type(priors)) if \
                    hasattr(gt_bboxes, 'convert_to') and \
                    hasattr(priors, 'convert_to') else gt_bboxes
                priors = cat_boxes([gt_as_priors, priors], dim=0)
                assign_result.add_gt_(gt.labels)
                gt_flags = torch.cat([
                    priors.new_ones(len(gt_bboxes), dtype=torch.uint8),
                    gt_flags
                ])
            images.append((priors, gt_bboxes, assign_result, gt_flags))
        if not images:
            return []
        gt_inds = torch.cat([a.gt_inds for _, _, a, _ in images])
        # Row kind: 0 positive (gt_inds > 0), 1 negative (0), 2 ignored,
        # 3 malformed (dropped like the ignored ones).
        kind = 1 - gt_inds.clamp(-1, 1)
        kind = torch.where(
            malformed_boxes(
                get_box_tensor(cat_boxes([p for p, _, _, _ in images]))),
            kind.new_tensor(3), kind)
        key = torch.cat([
            a.gt_inds.new_full((len(a.gt_inds), ), 4 * i)
            for i, (_, _, a, _) in enumerate(images)
        ]) + kind
        # A stable sort keeps each kind's rows in ascending prior order.
        order = torch.sort(key, stable=True)[1]
        counts = torch.bincount(key, minlength=4 * len(images)).tolist()
        self._warn_malformed(sum(counts[3::4]))
        chunks = order.split(counts)
        batch, start = [], 0
        for i, (priors, gt_bboxes, assign_result, gt_flags) in enumerate(
                images):
            pos_inds, neg_inds = chunks[4 * i] - start, \
                chunks[4 * i + 1] - start
            start += len(assign_result.gt_inds)
            result = SamplingResult(pos_inds, neg_inds, priors, gt_bboxes,
                                    assign_result, gt_flags)
            batch.append(
                Candidates(result, priors, gt_bboxes, assign_result,
                           gt_flags))
        return batch

    def rank(self, cls_score: Tensor, bbox_pred: Optional[Tensor],
             rois: Tensor, candidates: List[Candidates]) -> Tensor:
        """Per-RoI ranking loss of the candidates.

        Args:
            cls_score (Tensor): Readonly-pass class scores of ``rois``.
            bbox_pred (Tensor, optional): Readonly-pass box deltas.
            rois (Tensor): ``bbox2roi`` of the candidates' priors.
            candidates (list[Candidates]): Candidates of each image.

        Returns:
            Tensor: Loss of each RoI, shape (len(rois), ).
        """
        head = self.bbox_head
        labels, _, bbox_targets, bbox_weights = head.get_targets(
            [c.result for c in candidates], _TARGETS_CFG)
        # In float32 whatever the autocast dtype: float16 losses tie (and
        # overflow) where the ranking needs them apart.
        return ranking_loss(
            head, cls_score.float(),
            None if bbox_pred is None else bbox_pred.float(), rois.float(),
            labels, bbox_targets.float(), bbox_weights.float(),
            ranking=self.ranking)

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

    def mine(self,
             candidates: List[Candidates],
             rois: Tensor,
             bbox_forward: Callable[[Tensor], dict],
             keep_feats: bool = False) -> MiningResult:
        """Readonly pass over the candidates, :meth:`rank`, :meth:`pick`.

        The one mining path: :meth:`sample` runs it for an image,
        ``OHEMRoIHead.mine_hard_examples`` for each readonly group of a
        batch.

        Args:
            candidates (list[Candidates]): Candidates of each image.
            rois (Tensor): ``bbox2roi`` rows of their priors, with the image
                index ``bbox_forward``'s features have them at.
            bbox_forward (callable): ``rois -> dict`` with ``cls_score``,
                ``bbox_pred`` (and ``bbox_feats``): the RoI head's
                ``_bbox_forward`` on its features. Run under
                ``torch.no_grad``.
            keep_feats (bool): Also return the picks' RoI features.

        Returns:
            MiningResult: The picks, their ranking losses (and readonly RoI
            features) and the stats.
        """
        with torch.no_grad():
            readonly = bbox_forward(rois)
            losses = self.rank(readonly['cls_score'], readonly['bbox_pred'],
                               rois, candidates)
        picks = self.pick(candidates, losses)
        return MiningResult(
            picks=picks.results,
            feats=readonly['bbox_feats'][picks.rows] if keep_feats else None,
            losses=losses[picks.rows],
            stats=dict(self.stats))

    def pick(self, candidates: List[Candidates], losses: Tensor) -> Picks:
        """Keep the hardest candidates of each image.

        ``mining.select_hard_examples`` decides, with :attr:`settings` (or
        :attr:`warmup_settings` and random scores during the warm-up).
        The whole batch costs one host sync beyond ``mining.py``'s: the
        per-image pick counts, the stats and the non-finite count are read
        together.

        Args:
            candidates (list[Candidates]): Candidates of each image.
            losses (Tensor): Their ranking losses, in ``rois`` order.

        Returns:
            Picks: The picks of each image and their rows.
        """
        results = [c.result for c in candidates]
        sizes = [len(r.pos_inds) + len(r.neg_inds) for r in results]
        boxes = get_box_tensor(cat_boxes([r.priors for r in results]))
        img_inds = torch.cat([
            losses.new_full((n, ), i, dtype=torch.long)
            for i, n in enumerate(sizes)
        ])
        is_pos = torch.cat([
            torch.arange(n, device=losses.device) < len(r.pos_inds)
            for n, r in zip(sizes, results)
        ])
        if self.in_warmup:
            # Random scores through the same rule: RandomSampler's picks.
            # Non-finite-loss RoIs keep their score: still never picked.
            scores = torch.where(torch.isfinite(losses),
                                 torch.rand_like(losses), losses)
            selection = select_hard_examples(
                scores, boxes, img_inds, self.warmup_settings,
                num_imgs=len(candidates), is_pos=is_pos)
        else:
            settings = self.settings
            selection = select_hard_examples(
                losses, boxes, img_inds, settings, num_imgs=len(candidates),
                is_pos=is_pos,
                labels=self._nms_labels(results)
                if settings.nms_per_label else None,
                random_scores=torch.rand_like(losses)
                if settings.num_random else None)
        # Candidate rows are ordered by image, positives before negatives
        # and by prior index inside each: sorted rows are bbox2roi order.
        rows = selection.kept.sort()[0]
        groups = 2 * img_inds[rows] + (~is_pos[rows]).long()
        finite = torch.isfinite(losses)
        numbers = torch.cat([
            torch.bincount(groups, minlength=2 * len(candidates)).double(),
            torch.stack([
                losses[rows].double().sum(),
                torch.where(finite, losses.double(),
                            losses.new_zeros((), dtype=torch.double)).sum(),
                finite.sum().double()
            ])
        ]).tolist()  # the one read of the device
        counts = [int(c) for c in numbers[:-3]]
        loss_picked, loss_all, num_finite = numbers[-3:]
        self._warn_non_finite(losses.numel() - int(num_finite))
        self._record_stats(
            candidates=losses.numel(), after_nms=selection.num_after_nms,
            picked=rows.numel(), picked_pos=sum(counts[0::2]),
            loss_picked=loss_picked, loss_all=loss_all,
            finite=int(num_finite), imgs=len(candidates))

        picked, chunks, start = [], rows.split(counts), 0
        for i, c in enumerate(candidates):
            num_pos = len(c.result.pos_inds)
            pos_inds = c.result.pos_inds[chunks[2 * i] - start]
            neg_inds = c.result.neg_inds[chunks[2 * i + 1] - start - num_pos]
            start += sizes[i]
            picked.append(
                SamplingResult(pos_inds, neg_inds, c.priors, c.gt_bboxes,
                               c.assign_result, c.gt_flags))
        return Picks(picked, rows)

    def _nms_labels(self, results: List[SamplingResult]) -> Tensor:
        """Class of each candidate, background (``num_classes``) apart."""
        bg = self.bbox_head.num_classes
        return torch.cat([
            torch.cat([r.pos_gt_labels.long(),
                       r.neg_inds.new_full((len(r.neg_inds), ), bg)])
            for r in results
        ])

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
        candidates = self.candidates([assign_result], [pred_instances],
                                     [gt_instances])
        if self.stage is None:
            forward = partial(self.context._bbox_forward, feats)
        else:
            forward = partial(self.context._bbox_forward, self.stage, feats)
        rois = bbox2roi([candidates[0].result.priors])
        return self.mine(candidates, rois, forward).picks[0]

    def _sample_pos(self, *args, **kwargs):
        raise NotImplementedError('ranked jointly in `pick`')

    def _sample_neg(self, *args, **kwargs):
        raise NotImplementedError('ranked jointly in `pick`')

    def _warn_malformed(self, num: int) -> None:
        """Warn once per sampler that malformed candidates are dropped."""
        self.num_malformed += num
        if self._warned_malformed or not num:
            return
        self._warned_malformed = True
        warnings.warn(
            f'{num} candidate RoIs with x2 < x1, y2 < y1 or NaN/inf '
            'coordinates were dropped before the readonly pass (mmcv\'s '
            'RoIAlign refuses them); later ones are dropped silently and '
            'counted in `num_malformed` of the sampler (warned once).')

    def _warn_non_finite(self, num_non_finite: int) -> None:
        """Warn once per sampler that NaN/inf-loss RoIs are being skipped."""
        if self._warned_non_finite or not num_non_finite:
            return
        self._warned_non_finite = True
        warnings.warn(
            f'{num_non_finite} RoIs have a NaN/inf OHEM ranking loss; they '
            'are never picked (warned once).')

    @contextmanager
    def batch_stats(self) -> Iterator[None]:
        """Make :attr:`stats` cover every :meth:`pick` call in the block.

        ``OHEMRoIHead`` may mine image by image (to hold one image's RoI
        features at a time); the stats are still the batch's.
        """
        self._batch_totals = Counter()
        try:
            yield
        finally:
            self._batch_totals = None

    def _record_stats(self, **totals) -> None:
        """Numbers for ``MiningStatsHook``: what the picks look like.

        Args:
            **totals: Host numbers of one :meth:`pick` call: ``imgs``,
                ``candidates``, ``after_nms``, ``picked``, ``picked_pos``,
                ``loss_picked`` and ``loss_all`` (sums) and ``finite`` (the
                number of finite losses). Stats are per image, so runs with
                other batch sizes compare.
        """
        totals = Counter(totals)
        if self._batch_totals is not None:
            self._batch_totals.update(totals)
            totals = self._batch_totals
        imgs, picked = max(totals['imgs'], 1), totals['picked']
        self.stats = dict(
            num_candidates=totals['candidates'] / imgs,
            num_after_nms=totals['after_nms'] / imgs,
            num_picked=picked / imgs,
            fg_share=totals['picked_pos'] / picked if picked else 0.,
            # Picks are always finite (non-finite losses are never kept).
            loss_picked=totals['loss_picked'] / picked if picked else 0.,
            loss_all=totals['loss_all'] /
            totals['finite'] if totals['finite'] else 0.)


def malformed_boxes(boxes: Tensor) -> Tensor:
    """Rows of ``boxes`` (x1, y1, x2, y2) that no RoI op can take.

    Inverted boxes (x2 < x1 or y2 < y1) and NaN/inf coordinates; zero-area
    boxes are well-formed (RoIAlign samples them as a point).
    """
    return ~torch.isfinite(boxes).all(dim=1) | (boxes[:, 2] < boxes[:, 0]) \
        | (boxes[:, 3] < boxes[:, 1])

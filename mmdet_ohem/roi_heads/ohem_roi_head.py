"""OHEM RoI head: readonly pass, mine the batch, train on the picks."""
from contextlib import contextmanager, nullcontext
from functools import partial
from typing import Iterator, List, Optional, Tuple

import torch
from mmcv.ops import SyncBatchNorm as MMCVSyncBatchNorm
from mmdet.models.roi_heads import StandardRoIHead
from mmdet.models.task_modules.samplers import SamplingResult
from mmdet.models.utils import unpack_gt_instances
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmdet.structures.bbox import bbox2roi
from mmdet.utils import InstanceList
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from ..samplers import Candidates, LossRankedOHEMSampler, MiningResult
from .roi_feature_replay import can_replay, replay_roi_features


@MODELS.register_module()
class OHEMRoIHead(StandardRoIHead):
    """``StandardRoIHead`` trained with Online Hard Example Mining.

    The flow of `Training Region-based Object Detectors with Online Hard
    Example Mining <https://arxiv.org/abs/1604.03540>`_, Fig. 2, for the
    whole batch at once:

    1. :meth:`assign` every proposal (and gt box) of every image: the
       candidates (``LossRankedOHEMSampler.candidates``);
    2. readonly pass (:meth:`mine_hard_examples`): RoI features of all
       candidates are extracted once and the bbox head runs on them under
       ``torch.no_grad`` (no autograd graph, so the thousands of easy RoIs
       cost a forward pass only), for the batch at once or image by image
       (``readonly_pass``);
    3. mine: per-RoI ranking loss (CE + smooth-L1), NMS by loss, top
       ``num`` per image: the policy of ``train_cfg.sampler``, a
       ``LossRankedOHEMSampler``, whose ``mine`` runs steps 2-3 (its
       drop-in ``sample`` runs the same code);
    4. trainable pass: ``StandardRoIHead.bbox_loss`` / ``mask_loss`` on the
       picks only, so the backbone gets gradients through them alone.

    Inference is ``StandardRoIHead``'s: a checkpoint trained with this head
    tests identically with the plain one.

    Args:
        readonly_pass (str): How the readonly pass walks the batch:
            ``'batch'``, one pass over every candidate of the batch (a
            fixed number of host syncs per step); ``'image'``, one pass per
            image, so only one image's candidate RoI features are alive at
            a time (bounded memory, a few syncs per image); ``'auto'``
            (default), ``'image'`` for features on the CPU, where RoI
            features of all candidates can outweigh a small backbone's
            activations, else ``'batch'``. The picks are the same either
            way. ``scope='batch'`` sampling and a head with batch
            normalisation always run one pass for the batch (see
            :meth:`mine_hard_examples`).
        mask_num_pos (int): Positives per image the mask branch trains on
            (Mask R-CNN): the picked ones, then other positive candidates
            drawn at random, up to this count, as stock Mask R-CNN's
            ``RandomSampler`` (512 x 0.25 = 128) gives it. The box picks
            alone are few (mining keeps 64 RoIs per image, mostly hard
            negatives) and chosen for their *box* loss: the worst-localised
            positives. With a shared RoI extractor the mask branch trains on
            the picked positives only (their features are the bbox
            branch's). Defaults to 128.
        **kwargs: ``StandardRoIHead``'s arguments.
    """

    bbox_sampler: LossRankedOHEMSampler

    def __init__(self,
                 *args,
                 readonly_pass: str = 'auto',
                 mask_num_pos: int = 128,
                 **kwargs) -> None:
        if readonly_pass not in READONLY_PASSES:
            raise ValueError(f'`readonly_pass` must be one of '
                             f'{READONLY_PASSES}, got {readonly_pass!r}')
        if isinstance(mask_num_pos, bool) or not isinstance(
                mask_num_pos, int) or mask_num_pos < 0:
            raise ValueError('`mask_num_pos` must be an int >= 0, got '
                             f'{mask_num_pos!r}')
        self.readonly_pass = readonly_pass
        self.mask_num_pos = mask_num_pos
        self._norms: Optional[List[nn.Module]] = None
        super().__init__(*args, **kwargs)

    def init_assigner_sampler(self) -> None:
        """Build the assigner and check the sampler can mine a batch."""
        super().init_assigner_sampler()
        if self.train_cfg and not isinstance(self.bbox_sampler,
                                             LossRankedOHEMSampler):
            raise TypeError(
                'OHEMRoIHead mines with `train_cfg.rcnn.sampler` of type '
                f"'LossRankedOHEMSampler', got "
                f'{type(self.bbox_sampler).__name__}')

    def loss(self, x: Tuple[Tensor], rpn_results_list: InstanceList,
             batch_data_samples: List[DetDataSample]) -> dict:
        """Mine the hardest RoIs of the batch and compute their losses.

        Args:
            x (tuple[Tensor]): Multi-level image features.
            rpn_results_list (list[InstanceData]): Proposals of each image.
            batch_data_samples (list[DetDataSample]): Images with their
                ``gt_instances`` (and ``ignored_instances``).

        Returns:
            dict[str, Tensor]: Losses of the bbox (and mask) head.
        """
        # 1. Assign: the candidates of each image.
        candidates = self.assign(rpn_results_list, batch_data_samples)
        # 2-3. Readonly pass over them, ranked and picked by the sampler.
        mined = self.mine_hard_examples(x, candidates)
        sampling_results = mined.picks

        # 4. Trainable pass on the picks only. Their RoI features come from
        # the readonly pass: only RoIAlign's backward runs for them here.
        losses = dict()
        replay = nullcontext() if mined.feats is None else \
            replay_roi_features(
                self.bbox_roi_extractor,
                bbox2roi([res.priors for res in sampling_results]),
                mined.feats)
        del mined  # the replay's per-level rows are all we keep
        with replay:
            bbox_results = self.bbox_loss(x, sampling_results)
        losses.update(bbox_results['loss_bbox'])
        if self.with_mask:
            mask_results = self.mask_loss(
                x, sampling_results if self.share_roi_extractor else
                self.mask_positives(candidates, sampling_results),
                bbox_results['bbox_feats'],
                [sample.gt_instances for sample in batch_data_samples])
            losses.update(mask_results['loss_mask'])
        return losses

    def assign(self, rpn_results_list: InstanceList,
               batch_data_samples: List[DetDataSample]) -> List[Candidates]:
        """Assign every proposal (and gt box) of the batch: the candidates.

        What :meth:`loss` mines from; tools that show the mining call it
        too, so they see the same candidates.

        Args:
            rpn_results_list (list[InstanceData]): Proposals of each image
                (``bboxes``; taken as the candidates' ``priors``).
            batch_data_samples (list[DetDataSample]): Images with their
                ``gt_instances`` (and ``ignored_instances``).

        Returns:
            list[Candidates]: Every non-ignored RoI of each image.
        """
        if len(rpn_results_list) != len(batch_data_samples):
            raise ValueError(f'{len(rpn_results_list)} proposal lists for '
                             f'{len(batch_data_samples)} images')
        gts, gts_ignore, _ = unpack_gt_instances(batch_data_samples)
        assign_results = []
        for rpn_results, gt, gt_ignore in zip(rpn_results_list, gts,
                                              gts_ignore):
            rpn_results.priors = rpn_results.pop('bboxes')
            assign_results.append(
                self.bbox_assigner.assign(rpn_results, gt, gt_ignore))
        return self.bbox_sampler.candidates(assign_results, rpn_results_list,
                                            gts)

    def mask_positives(
            self, candidates: List[Candidates],
            picks: List[SamplingResult]) -> List[SamplingResult]:
        """The positives the mask branch trains on (see ``mask_num_pos``).

        Per image: every picked positive first, then other positive
        candidates in random order, up to ``mask_num_pos`` (never fewer
        than the picked ones). No host sync: the counts are shapes.

        Args:
            candidates (list[Candidates]): Candidates of each image.
            picks (list[SamplingResult]): The box picks of each image.

        Returns:
            list[SamplingResult]: Positives only, per image.
        """
        results = []
        for cands, picked in zip(candidates, picks):
            pos = cands.result.pos_inds
            num = max(min(self.mask_num_pos, len(pos)), len(picked.pos_inds))
            # Picked ones score above 1, the others at random below it.
            score = torch.rand(len(pos), device=pos.device) + torch.isin(
                pos, picked.pos_inds)
            keep = pos[score.topk(num, sorted=False)[1]].sort()[0]
            results.append(
                SamplingResult(keep, keep.new_zeros(0), cands.priors,
                               cands.gt_bboxes, cands.assign_result,
                               cands.gt_flags))
        return results

    def bbox_loss(self, x: Tuple[Tensor],
                  sampling_results: List[SamplingResult]) -> dict:
        """``StandardRoIHead.bbox_loss``, with the same keys for 0 picks.

        A batch can leave OHEM nothing to pick (no gt boxes and no
        proposals in any image). mmdet's ``BBoxHead.loss`` then returns
        ``loss_bbox`` only; here ``loss_cls`` (and ``acc``) are added as
        zeros tied to the graph, so every step logs the same keys and every
        parameter of the bbox head gets a (zero) gradient, as DDP expects.

        Args:
            x (tuple[Tensor]): Multi-level image features.
            sampling_results (list[SamplingResult]): The picks of each
                image.

        Returns:
            dict: As ``StandardRoIHead.bbox_loss``.
        """
        bbox_results = super().bbox_loss(x, sampling_results)
        cls_score = bbox_results['cls_score']
        if cls_score is not None and cls_score.shape[0] == 0:
            losses = bbox_results['loss_bbox']
            losses.setdefault('loss_cls', cls_score.sum() * 0)
            if not self.bbox_head.custom_activation:
                losses.setdefault('acc', cls_score.new_zeros(()))
            if bbox_results['bbox_pred'] is not None:
                losses.setdefault('loss_bbox',
                                  bbox_results['bbox_pred'].sum() * 0)
        return bbox_results

    def mine_hard_examples(self, x: Tuple[Tensor],
                           candidates: List[Candidates]) -> MiningResult:
        """Readonly pass over all candidates, then pick the hardest.

        Each readonly group (the batch, or one image: ``readonly_pass``) is
        mined by the sampler's ``mine`` (readonly pass, ``rank``, ``pick``)
        with this head's ``_bbox_forward``.

        The readonly pass runs the heads in training mode (dropout as in
        training, as the paper's readonly network) under ``torch.no_grad``,
        so batch normalisation ranks the RoIs with the *candidates'* batch
        statistics: the loss each RoI would have if trained now. Eval-mode
        statistics would rank with running averages that lag the weights
        (and are unset early in training). The running statistics and
        ``num_batches_tracked`` are left as they were: only the trainable
        pass over the picks updates them, as for a plain head fed the
        picks. Such a head (``bbox_head`` or ``shared_head`` with BN or
        SyncBN) sees the whole batch in one pass, so its statistics (and a
        SyncBN's all-reduce, once per rank) are the batch's.

        Args:
            x (tuple[Tensor]): Multi-level image features.
            candidates (list[Candidates]): Candidates of each image, from
                :meth:`assign`.

        Returns:
            MiningResult: The picks, their readonly features and ranking
            losses, and the mining stats of the batch.
        """
        keep_feats = not self.with_shared_head and \
            can_replay(self.bbox_roi_extractor)
        # bbox2roi of the whole batch keeps each row's image index in x.
        rois = bbox2roi([c.result.priors for c in candidates])
        bbox_forward = partial(self._bbox_forward, x)
        groups, start = [], 0
        with self.bbox_sampler.batch_stats(), \
                frozen_running_stats(self.batch_norms):
            for group in self._readonly_groups(x, candidates):
                cands = [candidates[i] for i in group]
                stop = start + sum(c.result.priors.shape[0] for c in cands)
                groups.append(
                    self.bbox_sampler.mine(cands, rois[start:stop],
                                           bbox_forward, keep_feats))
                start = stop
        return MiningResult(
            picks=[p for g in groups for p in g.picks],
            feats=torch.cat([g.feats for g in groups])
            if keep_feats and groups else None,
            losses=torch.cat([g.losses for g in groups])
            if groups else rois.new_zeros(0),
            stats=dict(self.bbox_sampler.stats))

    def _readonly_groups(self, x: Tuple[Tensor],
                         candidates: List[Candidates]) -> List[range]:
        """The images each readonly pass covers (see ``readonly_pass``)."""
        per_image = self.readonly_pass == 'image' or (
            self.readonly_pass == 'auto' and x[0].device.type == 'cpu')
        if not candidates or (per_image
                              and self.bbox_sampler.scope == 'image'
                              and not self.batch_norms):
            return [range(i, i + 1) for i in range(len(candidates))]
        return [range(len(candidates))]

    @property
    def batch_norms(self) -> List[nn.Module]:
        """The batch-statistics norm layers of the bbox and shared heads.

        Found once, on the first training step: runners convert BN to
        SyncBN after the model is built, and both are found.
        """
        if self._norms is None:
            heads = [self.bbox_head] + ([self.shared_head]
                                        if self.with_shared_head else [])
            self._norms = [
                m for head in heads for m in head.modules()
                if isinstance(m, BATCH_NORMS)
            ]
        return self._norms


READONLY_PASSES = ('auto', 'batch', 'image')
BATCH_NORMS = (_BatchNorm, MMCVSyncBatchNorm)


@contextmanager
def frozen_running_stats(norms: List[nn.Module]) -> Iterator[None]:
    """Restore the norm layers' running statistics after the block.

    The layers still normalise with batch statistics inside the block;
    their ``running_mean``, ``running_var`` and ``num_batches_tracked``
    are copied back (on the device, no host sync) when it ends.
    """
    saved = [(buf, buf.clone()) for m in norms
             for buf in (m.running_mean, m.running_var,
                         getattr(m, 'num_batches_tracked', None))
             if buf is not None]
    try:
        yield
    finally:
        with torch.no_grad():
            for buf, value in saved:
                buf.copy_(value)

"""OHEM RoI head: readonly pass, mine the batch, train on the picks."""
from contextlib import nullcontext
from typing import List, Optional, Tuple, Union

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

from ..samplers import Candidates, LossRankedOHEMSampler
from .roi_feature_replay import can_replay, replay_roi_features


@MODELS.register_module()
class OHEMRoIHead(StandardRoIHead):
    """``StandardRoIHead`` trained with Online Hard Example Mining.

    The flow of `Training Region-based Object Detectors with Online Hard
    Example Mining <https://arxiv.org/abs/1604.03540>`_, Fig. 2, for the
    whole batch at once:

    1. assign every proposal (and gt box) of every image;
    2. readonly pass: RoI features of all candidates are extracted once and
       the bbox head runs on them under ``torch.no_grad`` (no autograd graph,
       so the thousands of easy RoIs cost a forward pass only), image by
       image with ``scope='image'`` so that memory stays bounded;
    3. per-RoI ranking loss (CE + smooth-L1), NMS by loss, top ``num`` per
       image — all in ``train_cfg.sampler``, a ``LossRankedOHEMSampler``;
    4. trainable pass: ``StandardRoIHead.bbox_loss`` / ``mask_loss`` on the
       picks only, so the backbone gets gradients through them alone.

    Inference is ``StandardRoIHead``'s: a checkpoint trained with this head
    tests identically with the plain one.
    """

    bbox_sampler: LossRankedOHEMSampler

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
        assert len(rpn_results_list) == len(batch_data_samples)
        batch_gt_instances, batch_gt_instances_ignore, _ = \
            unpack_gt_instances(batch_data_samples)

        batch = []
        for rpn_results, gt, gt_ignore in zip(rpn_results_list,
                                              batch_gt_instances,
                                              batch_gt_instances_ignore):
            rpn_results.priors = rpn_results.pop('bboxes')
            assign_result = self.bbox_assigner.assign(rpn_results, gt,
                                                      gt_ignore)
            batch.append(
                self.bbox_sampler.candidates(assign_result, rpn_results, gt))
        sampling_results, picked_feats = self.mine_hard_examples(
            x, batch, return_feats=True)

        losses = dict()
        # The picks' RoI features come from the readonly pass: only
        # RoIAlign's backward runs for them here.
        replay = nullcontext() if picked_feats is None else \
            replay_roi_features(
                self.bbox_roi_extractor,
                bbox2roi([res.priors for res in sampling_results]),
                picked_feats)
        del picked_feats  # the replay's per-level rows are all we keep
        with replay:
            bbox_results = self.bbox_loss(x, sampling_results)
        losses.update(bbox_results['loss_bbox'])
        if self.with_mask:
            mask_results = self.mask_loss(x, sampling_results,
                                          bbox_results['bbox_feats'],
                                          batch_gt_instances)
            losses.update(mask_results['loss_mask'])
        return losses

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

    def mine_hard_examples(
        self,
        x: Tuple[Tensor],
        batch: List[Candidates],
        return_feats: bool = False
    ) -> Union[List[SamplingResult], Tuple[List[SamplingResult], Optional[
            Tensor]]]:
        """Readonly pass over all candidates, then pick the hardest.

        With ``scope='image'`` (the paper's) each image is mined on its
        own, so the readonly pass runs image by image and only one image's
        candidate RoI features are alive at a time: all of them for a
        4 x 2000-proposal batch would take ~3x the memory of a random
        512-per-image step. ``scope='batch'`` ranks all images jointly and
        runs it once for the batch; so does a bbox head with BatchNorm
        (e.g. ``Shared4Conv1FCBBoxHead`` with SyncBN), whose batch
        statistics (and running-stat updates, SyncBN all-reduces) must stay
        those of the whole batch.

        Args:
            x (tuple[Tensor]): Multi-level image features.
            batch (list[Candidates]): Candidates of each image.
            return_feats (bool): Also return the picks' RoI features from
                the readonly pass, in ``bbox2roi`` order of the picks, for
                :func:`replay_roi_features`; ``None`` when the extractor
                cannot be replayed or a shared head transforms them.

        Returns:
            list[SamplingResult] | tuple: The picks of each image (and
            their features).
        """
        keep_feats = return_feats and not self.with_shared_head and \
            can_replay(self.bbox_roi_extractor)
        rois = bbox2roi([c.result.priors for c in batch])
        bounds = [0] + torch.tensor(
            [len(c.result.pos_inds) + len(c.result.neg_inds)
             for c in batch]).cumsum(0).tolist()
        one_pass = self.bbox_sampler.scope == 'batch' or has_batch_norm(
            self.bbox_head)
        groups = [range(len(batch))] if one_pass and batch else \
            [range(i, i + 1) for i in range(len(batch))]
        picks, feats = [], []
        with self.bbox_sampler.batch_stats():
            for group in groups:
                cands = [batch[i] for i in group]
                # bbox2roi of the whole batch keeps each row's image index.
                group_rois = rois[bounds[group[0]]:bounds[group[-1] + 1]]
                with torch.no_grad():
                    readonly = self._bbox_forward(x, group_rois)
                    losses = self.bbox_sampler.rank(readonly['cls_score'],
                                                    readonly['bbox_pred'],
                                                    group_rois, cands)
                group_picks = self.bbox_sampler.select(cands, losses)
                picks.extend(group_picks)
                if keep_feats:
                    feats.append(readonly['bbox_feats'][picked_rows(
                        cands, group_picks)])
                del readonly  # before the next image's features exist
        if not return_feats:
            return picks
        return picks, torch.cat(feats) if keep_feats and feats else None


def has_batch_norm(module: nn.Module) -> bool:
    """Whether ``module`` normalises with batch statistics."""
    return any(
        isinstance(m, (_BatchNorm, MMCVSyncBatchNorm))
        for m in module.modules())


def picked_rows(batch: List[Candidates],
                picks: List[SamplingResult]) -> Tensor:
    """Rows of the candidates' ``bbox2roi`` that hold the picks.

    In the order of ``bbox2roi([p.priors for p in picks])``: per image the
    picked positives, then the picked negatives. Both index lists are
    sorted subsets of the candidates' sorted ones, so a binary search finds
    each row.
    """
    rows, offset = [], 0
    for cands, picked in zip(batch, picks):
        pos, neg = cands.result.pos_inds, cands.result.neg_inds
        rows.append(offset + torch.searchsorted(pos, picked.pos_inds))
        rows.append(offset + len(pos) +
                    torch.searchsorted(neg, picked.neg_inds))
        offset += len(pos) + len(neg)
    return torch.cat(rows) if rows else torch.zeros(0, dtype=torch.long)

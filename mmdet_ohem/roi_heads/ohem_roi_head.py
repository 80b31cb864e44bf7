"""Batch-level OHEM RoI head: one readonly pass, then train on the picks."""
from typing import List, Tuple

import torch
from mmdet.models.roi_heads import StandardRoIHead
from mmdet.models.task_modules.samplers import SamplingResult
from mmdet.models.utils import unpack_gt_instances
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmdet.structures.bbox import bbox2roi
from mmdet.utils import InstanceList
from torch import Tensor

from ..samplers import Candidates, LossRankedOHEMSampler


@MODELS.register_module()
class OHEMRoIHead(StandardRoIHead):
    """``StandardRoIHead`` trained with Online Hard Example Mining.

    The flow of `Training Region-based Object Detectors with Online Hard
    Example Mining <https://arxiv.org/abs/1604.03540>`_, Fig. 2, for the
    whole batch at once:

    1. assign every proposal (and gt box) of every image;
    2. readonly pass: RoI features of all candidates are extracted once and
       the bbox head runs on them under ``torch.no_grad`` (no autograd graph,
       so the thousands of easy RoIs cost a forward pass only);
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
        sampling_results = self.mine_hard_examples(x, batch)

        losses = dict()
        bbox_results = self.bbox_loss(x, sampling_results)
        losses.update(bbox_results['loss_bbox'])
        if self.with_mask:
            mask_results = self.mask_loss(x, sampling_results,
                                          bbox_results['bbox_feats'],
                                          batch_gt_instances)
            losses.update(mask_results['loss_mask'])
        return losses

    def mine_hard_examples(self, x: Tuple[Tensor],
                           batch: List[Candidates]) -> List[SamplingResult]:
        """Readonly pass over all candidates, then pick the hardest.

        Args:
            x (tuple[Tensor]): Multi-level image features.
            batch (list[Candidates]): Candidates of each image.

        Returns:
            list[SamplingResult]: The picks of each image.
        """
        rois = bbox2roi([c.result.priors for c in batch])
        with torch.no_grad():
            readonly = self._bbox_forward(x, rois)
            losses = self.bbox_sampler.rank(readonly['cls_score'],
                                            readonly['bbox_pred'], rois,
                                            batch)
        return self.bbox_sampler.select(batch, losses)

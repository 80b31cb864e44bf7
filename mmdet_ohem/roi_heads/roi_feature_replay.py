"""Reuse the readonly pass's RoI features in the trainable pass.

The paper computes RoI features once per step: the readonly network ranks
every candidate, and the trainable network runs forward + backward on the
picks. MMDetection's ``StandardRoIHead.bbox_loss`` would run RoIAlign again
on the picks; on a CPU RoIAlign dominates the step, so ``OHEMRoIHead`` feeds
the picks' readonly features back instead, and only RoIAlign's *backward*
runs for them (mmcv's own kernel, so the gradient is exactly the plain
head's).

The extractor's own ``forward`` (level mapping, empty levels, DDP guards)
runs unchanged: only its mmcv ``RoIAlign`` layers are swapped, for the
duration of a ``with`` block, for layers that hand out the cached rows.
"""
from contextlib import contextmanager
from typing import Iterator, List, Tuple

import torch
from mmcv.ops import RoIAlign
from mmcv.ops.roi_align import RoIAlignFunction
from mmdet.models.roi_heads.roi_extractors import SingleRoIExtractor
from torch import Tensor, nn
from torch.autograd import Function


class _ReplayRoIAlignFunction(Function):
    """Forward: the cached RoIAlign output; backward: mmcv's RoIAlign's."""

    @staticmethod
    def forward(ctx, feat: Tensor, rois: Tensor, cached: Tensor,
                layer: RoIAlign) -> Tensor:
        ctx.save_for_backward(rois, feat.new_zeros(0), feat.new_zeros(0))
        ctx.input_shape = feat.size()
        ctx.output_size = layer.output_size
        ctx.spatial_scale = layer.spatial_scale
        ctx.sampling_ratio = layer.sampling_ratio
        ctx.pool_mode = 1  # 'avg' (checked by can_replay)
        ctx.aligned = layer.aligned
        # A copy, not a view, so that in-place ops downstream work as on
        # RoIAlign's output; the cache itself is dropped once handed out.
        return cached.clone()

    @staticmethod
    def backward(ctx, grad_output: Tensor) -> tuple:
        # ctx carries exactly the fields mmcv's backward reads.
        grad_feat = RoIAlignFunction.backward(ctx, grad_output)[0]
        return grad_feat, None, None, None


class _ReplayLayer(nn.Module):
    """Stands in for one RoIAlign level: returns the cached rows, once.

    The layer lets go of the rows as it hands them out, so the features of
    the picks are not held twice during the trainable pass. Whether the
    extractor asked for the cached RoIs is recorded on the device and
    checked once for all levels when the replay block ends.
    """

    def __init__(self, layer: RoIAlign, rois: Tensor, cached: Tensor,
                 mismatches: List[Tensor]):
        super().__init__()
        self.layer = layer
        self.output_size = layer.output_size  # the extractor reads it
        self.rois = rois
        self.cached = cached
        self.mismatches = mismatches

    def forward(self, feat: Tensor, rois: Tensor) -> Tensor:
        if rois.shape != self.rois.shape:
            raise RuntimeError(
                'RoI feature replay was asked for other RoIs than cached: '
                f'{rois.shape[0]} on this level, {self.rois.shape[0]} '
                'cached')
        if self.cached is None:
            raise RuntimeError(
                'RoI feature replay: the cached features were already '
                'handed out; the extractor may run once per block')
        self.mismatches.append((rois != self.rois).any())
        cached, self.cached = self.cached, None
        return _ReplayRoIAlignFunction.apply(feat, rois, cached, self.layer)


def can_replay(extractor: nn.Module) -> bool:
    """Whether ``extractor``'s features can be replayed.

    True for MMDetection's ``SingleRoIExtractor`` over mmcv ``RoIAlign``
    layers in ``'avg'`` mode (the defaults of every mmdet R-CNN); any other
    extractor is simply run again on the picks.
    """
    return type(extractor) is SingleRoIExtractor and all(
        type(layer) is RoIAlign and layer.pool_mode == 'avg'
        and not layer.use_torchvision for layer in extractor.roi_layers)


def rois_by_level(extractor: SingleRoIExtractor, rois: Tensor,
                  dtype: torch.dtype) -> Tuple[List[Tensor], List[int]]:
    """The rows of ``rois`` that ``extractor`` sends to each level.

    Exactly as ``SingleRoIExtractor.forward`` maps them: after casting the
    RoIs to the features' dtype. Under float16 autocast an area above
    65504 overflows and sizes near a level boundary round, so mapping the
    float32 RoIs would send some to other levels than the extractor does.

    Args:
        extractor (SingleRoIExtractor): The extractor.
        rois (Tensor): RoIs, (n, 5).
        dtype (torch.dtype): The dtype of the features it will be run on.

    Returns:
        tuple[list[Tensor], list[int]]: Row indices of each level, in
        ascending order, and their counts (read with one host sync).
    """
    num_levels = len(extractor.roi_layers)
    levels = extractor.map_roi_levels(rois.to(dtype), num_levels)
    order = torch.sort(levels, stable=True)[1]
    counts = torch.bincount(levels, minlength=num_levels).tolist()
    return list(order.split(counts)), counts


@contextmanager
def replay_roi_features(extractor: SingleRoIExtractor, rois: Tensor,
                        feats: Tensor) -> Iterator[None]:
    """Inside the block, ``extractor(x, rois)`` returns ``feats``.

    No RoIAlign forward runs; the backward pass still reaches ``x`` through
    mmcv's RoIAlign backward, as if the features had been extracted there.

    Args:
        extractor (SingleRoIExtractor): The bbox RoI extractor (see
            :func:`can_replay`).
        rois (Tensor): The RoIs the block will extract, (n, 5).
        feats (Tensor): Their features from an earlier pass of the same
            extractor on the same ``x`` (whose dtype they have), (n, C, h,
            w), without grad. Each level's rows are handed out once: the
            extractor may run once inside the block.

    Raises:
        RuntimeError: When the block ends, if the extractor asked a level
            for other RoIs than the cached ones.
    """
    layers: List[nn.Module] = list(extractor.roi_layers)
    rois = rois.to(feats.dtype)  # as the extractor will see them
    mismatches: List[Tensor] = []
    for i, (layer, inds) in enumerate(
            zip(layers, rois_by_level(extractor, rois, feats.dtype)[0])):
        extractor.roi_layers[i] = _ReplayLayer(layer, rois[inds],
                                               feats[inds], mismatches)
    # The levels hold their own rows now; the caller should drop its
    # reference too, so that only those stay alive.
    del feats
    try:
        yield
    finally:
        for i, layer in enumerate(layers):
            extractor.roi_layers[i] = layer
    if mismatches and bool(torch.stack(mismatches).any()):
        raise RuntimeError(
            'RoI feature replay was asked for other RoIs than cached')

"""Small CPU-sized detectors and batches for tests and benchmarks.

Shrinks MMDetection's own configs (``mmdet::...``) to ResNet-18 without
pretrained weights, so a training step runs in seconds on a CPU.
"""
import copy
from typing import Optional, Tuple, Union

from mmdet.testing import demo_mm_inputs
from mmengine.config import ConfigDict
from mmengine.hub import get_config

BASES = dict(
    faster='mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py',
    mask='mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py',
    cascade='mmdet::cascade_rcnn/cascade-rcnn_r50_fpn_1x_coco.py')


def ohem_sampler(num: int = 64, **kwargs) -> dict:
    """Config of a sampler that picks by loss only (no quota, CE + box
    loss, NMS by loss at 0.5 per label: the sampler's defaults)."""
    cfg = dict(type='LossRankedOHEMSampler', num=num, pos_fraction=None,
               ranking='cls+bbox', nms_thr=0.5)
    cfg.update(kwargs)
    return cfg


def small_detector_cfg(kind: str = 'faster',
                       sampler: Optional[dict] = None,
                       roi_head_type: Optional[str] = None,
                       num_classes: Optional[int] = None) -> ConfigDict:
    """A ResNet-18 FPN detector config built from mmdet's R50 config.

    Args:
        kind (str): ``'faster'``, ``'mask'`` or ``'cascade'``.
        sampler (dict, optional): Replaces ``train_cfg.rcnn.sampler`` (every
            stage of a cascade).
        roi_head_type (str, optional): Replaces ``roi_head.type``, e.g.
            ``'OHEMRoIHead'``.
        num_classes (int, optional): Replaces the heads' class count.

    Returns:
        ConfigDict: The ``model`` config.
    """
    model = copy.deepcopy(get_config(BASES[kind]).model)
    model.backbone.update(depth=18, init_cfg=None)
    model.neck.in_channels = [64, 128, 256, 512]
    rcnn = model.train_cfg.rcnn
    stages = rcnn if isinstance(rcnn, list) else [rcnn]
    if sampler is not None:
        for stage in stages:
            stage.sampler = ConfigDict(copy.deepcopy(sampler))
    if roi_head_type is not None:
        model.roi_head.type = roi_head_type
    if num_classes is not None:
        heads = model.roi_head.bbox_head
        for head in heads if isinstance(heads, list) else [heads]:
            head.num_classes = num_classes
        if 'mask_head' in model.roi_head:
            model.roi_head.mask_head.num_classes = num_classes
    return model


def demo_batch(model, batch_size: int = 2,
               size: Union[int, Tuple[int, int]] = 320,
               num_items: Optional[list] = None, num_classes: int = 80,
               with_mask: bool = False) -> dict:
    """A preprocessed training batch of random images and boxes.

    Args:
        model (BaseDetector): Its ``data_preprocessor`` is applied.
        batch_size (int): Number of images.
        size (int | tuple[int, int]): Image side, or (height, width).
        num_items (list[int], optional): Gt boxes per image.
        num_classes (int): Label range of the gt boxes.
        with_mask (bool): Add instance masks.

    Returns:
        dict: ``inputs`` and ``data_samples`` ready for ``model.loss``.
    """
    height, width = (size, size) if isinstance(size, int) else size
    packed = demo_mm_inputs(batch_size, image_shapes=(3, height, width),
                            num_items=num_items, num_classes=num_classes,
                            with_mask=with_mask)
    return model.data_preprocessor(packed, True)

"""``Shared2FCBBoxHead`` with the OHEM per-RoI ranking loss."""
from mmdet.models.roi_heads.bbox_heads import Shared2FCBBoxHead
from mmdet.registry import MODELS

from .loss_ranked_mixin import LossRankedBBoxHeadMixin


@MODELS.register_module()
class LossRankedShared2FCBBoxHead(LossRankedBBoxHeadMixin, Shared2FCBBoxHead):
    """Faster R-CNN's box head that can rank RoIs by their own loss.

    Identical to ``Shared2FCBBoxHead`` in training and inference; it only
    adds :meth:`ranking_loss` (see `Training Region-based Object Detectors
    with Online Hard Example Mining <https://arxiv.org/abs/1604.03540>`_).
    OHEM components work with the plain head too; this class is for code
    that wants ``bbox_head.ranking_loss(...)`` as a method.
    """

from .loss_ranked_bbox_head import LossRankedShared2FCBBoxHead
from .loss_ranked_mixin import LossRankedBBoxHeadMixin

__all__ = ['LossRankedBBoxHeadMixin', 'LossRankedShared2FCBBoxHead']

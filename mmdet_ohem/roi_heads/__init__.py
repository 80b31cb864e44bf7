from .ohem_roi_head import OHEMRoIHead

__all__ = ['OHEMRoIHead']

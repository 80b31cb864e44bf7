from .ohem_roi_head import MiningResult, OHEMRoIHead

__all__ = ['MiningResult', 'OHEMRoIHead']

from .loss_ranked_ohem_sampler import Candidates, LossRankedOHEMSampler

__all__ = ['Candidates', 'LossRankedOHEMSampler']

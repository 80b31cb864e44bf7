from .loss_ranked_ohem_sampler import Candidates, LossRankedOHEMSampler, Picks

__all__ = ['Candidates', 'LossRankedOHEMSampler', 'Picks']

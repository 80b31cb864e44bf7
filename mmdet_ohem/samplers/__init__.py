from .loss_ranked_ohem_sampler import (Candidates, LossRankedOHEMSampler,
                                       MiningResult, Picks)

__all__ = ['Candidates', 'LossRankedOHEMSampler', 'MiningResult', 'Picks']

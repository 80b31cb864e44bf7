"""Hooks of mmdet-ohem (registered in MMDetection's ``HOOKS``)."""
from .mining_stats_hook import MiningStatsHook, find_mining_samplers
from .rng_state_hook import RNGStateHook

__all__ = ['MiningStatsHook', 'RNGStateHook', 'find_mining_samplers']

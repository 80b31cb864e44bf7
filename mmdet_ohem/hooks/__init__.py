"""Hooks of mmdet-ohem (registered in MMDetection's ``HOOKS``)."""
from .mining_stats_hook import MiningStatsHook, find_mining_samplers

__all__ = ['MiningStatsHook', 'find_mining_samplers']

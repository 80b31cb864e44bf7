"""Distributed launch on machines without CUDA (CPU-only torch)."""
import os
from datetime import timedelta

import torch
import torch.distributed as torch_dist


def setup_cpu_distributed(cfg) -> bool:
    """Make ``--launcher pytorch`` work without CUDA; a no-op with it.

    MMDetection's ``default_runtime`` asks for ``nccl``, and mmengine 0.10.7
    neither falls back to ``gloo`` nor runs on CPU-only torch:
    ``init_dist`` always calls ``torch.cuda.set_device`` and the runner
    wraps the model in DDP with ``device_ids=[LOCAL_RANK]``, both of which
    fail without CUDA. So, when CUDA is unavailable, this switches
    ``env_cfg.dist_cfg.backend`` to ``gloo``, initialises the process group
    itself (mmengine skips ``init_dist`` when one exists) and sets the DDP
    wrapper's ``device_ids`` to ``None``.

    Args:
        cfg (Config): The full config; its ``launcher`` is read and
            ``env_cfg``/``model_wrapper_cfg`` are updated in place.

    Returns:
        bool: Whether anything was changed.
    """
    launcher = cfg.get('launcher', 'none')
    if launcher == 'none' or torch.cuda.is_available():
        return False
    env_cfg = cfg.setdefault('env_cfg', {})
    dist_cfg = env_cfg.setdefault('dist_cfg', {})
    # nccl is CUDA-only; gloo is torch.distributed's CPU backend.
    dist_cfg['backend'] = 'gloo'
    if launcher == 'pytorch' and not torch_dist.is_initialized():
        kwargs = {}
        if dist_cfg.get('timeout') is not None:
            kwargs['timeout'] = timedelta(seconds=dist_cfg['timeout'])
        torch_dist.init_process_group(
            backend='gloo', rank=int(os.environ['RANK']),
            world_size=int(os.environ['WORLD_SIZE']), **kwargs)
    wrapper = cfg.get('model_wrapper_cfg')
    if wrapper is None:
        cfg.model_wrapper_cfg = dict(
            type='MMDistributedDataParallel', device_ids=None,
            broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False))
    elif wrapper.get('type', 'MMDistributedDataParallel') in (
            'MMDistributedDataParallel', 'DistributedDataParallel'):
        wrapper.setdefault('device_ids', None)
    return True

"""Save the random number generators' states in checkpoints; resume them."""
import logging
import random
from typing import Optional

import numpy as np
import torch
from mmdet.registry import HOOKS
from mmengine.dist import get_rank, get_world_size
from mmengine.hooks import Hook
from mmengine.hooks.hook import DATA_BATCH
from mmengine.logging import print_log
from mmengine.runner import IterBasedTrainLoop

from ..utils.strict_keys import check_unknown_keys

META_KEY = 'rng_state'


@HOOKS.register_module()
class RNGStateHook(Hook):
    """Make ``--resume`` continue the random draws of the interrupted run.

    mmengine 0.10.7 checkpoints hold the weights, optimizer, schedulers and
    message hub but no RNG state, and ``Runner`` seeds the generators when
    it starts, so after a resume e.g. the RPN's ``RandomSampler``
    (``torch.randperm`` on torch's global RNG) draws other anchors than the
    uninterrupted run would have: the loss curves part at the first
    resumed iteration. This hook closes that gap:

    * ``before_save_checkpoint`` stores the states of torch's CPU
      generator, of the CUDA generators (when CUDA is initialized), of
      numpy's global ``RandomState`` and of Python's ``random`` under
      ``checkpoint['meta']['rng_state']`` (``meta`` is kept by every
      mmengine save, published checkpoints included);
    * ``after_load_checkpoint`` keeps them aside, with the checkpoint's
      ``iter`` and ``epoch``;
    * they are restored just before the first resumed batch is trained,
      and only if the run starts at that checkpoint's ``iter`` and
      ``epoch`` (a resume, by ``--resume`` or ``Runner.resume``): a
      ``load_from`` fine-tuning starts at iteration 0 and keeps its seeded
      generators.

    Why not at ``after_load_checkpoint``: ``Runner.resume`` calls that hook
    first thing, then reseeds every generator when the checkpoint's seed
    differs from the config's (always the case with ``seed=None``), then
    the train loop starts. The restore point depends on the loop:

    * ``EpochBasedTrainLoop`` (no replay): every state at the first
      ``before_train_epoch``, before the epoch's data loader iterator is
      made (which draws its base seed from torch's RNG);
    * ``IterBasedTrainLoop``: at the first ``before_train_iter``, after the
      loop has replayed the trained batches through the data loader (its
      sampler has no saved position) and fetched the first new one.
      torch's and CUDA's states are restored there. numpy's and Python's
      are restored there only if the loader has workers: with
      ``num_workers=0`` the data pipeline draws from them in this process,
      the replay has already brought them to the checkpoint's state and
      the first new batch has advanced them, so restoring would rewind
      them one batch.

    Data loader workers need nothing: mmengine's ``worker_init_fn`` seeds
    each worker from the run's seed and worker id, and the replay advances
    them again. Exactness also needs a fixed ``randomness.seed``: mmengine
    builds the train loader (sampler order, worker seeds) from the new
    run's seed before ``Runner.resume`` reads the checkpoint's, so with
    ``seed=None`` a resumed run sees other data whatever this hook does.
    It holds if nothing draws between the checkpoint and the next batch in
    the uninterrupted run (a validation there makes its loader iterator,
    one draw of torch's RNG) and for one process: only rank 0 saves
    checkpoints, so in a distributed run rank 0 restores its states and
    the other ranks keep mmengine's seeding.

    A resumed checkpoint without the states (saved without this hook)
    gives one warning and the run goes on as mmengine's would.

    It takes no key (``priority`` is the runner's, as for every hook); any
    other raises a ``TypeError``.
    """

    # Restore before any other hook of the iteration may draw.
    priority = 'VERY_HIGH'

    def __init__(self, **kwargs) -> None:
        # It has no key of its own (`priority` is popped by the runner).
        check_unknown_keys(RNGStateHook, kwargs)
        self._loaded: Optional[dict] = None
        self._warned = False

    @staticmethod
    def get_rng_state() -> dict:
        """The states of this process's random number generators.

        Returns:
            dict: ``torch`` (CPU ``ByteTensor``), ``cuda`` (one per device,
            only if CUDA is initialized), ``numpy`` (``np.random.get_state``)
            and ``random`` (``random.getstate``).
        """
        state = dict(
            torch=torch.get_rng_state(),
            numpy=np.random.get_state(),
            random=random.getstate())
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state['cuda'] = torch.cuda.get_rng_state_all()
        return state

    @staticmethod
    def set_rng_state(state: dict, host: bool = True) -> list:
        """Set the generators from a :meth:`get_rng_state` dict.

        Args:
            state (dict): As returned by :meth:`get_rng_state`; its tensors
                may have been mapped to a GPU by the checkpoint loader.
            host (bool): Also set numpy's and Python's generators.

        Returns:
            list[str]: The generators set.
        """
        done = []
        if 'torch' in state:
            torch.set_rng_state(state['torch'].cpu())
            done.append('torch')
        cuda_states = state.get('cuda')
        if cuda_states and torch.cuda.is_available():
            count = min(len(cuda_states), torch.cuda.device_count())
            for device in range(count):
                torch.cuda.set_rng_state(cuda_states[device].cpu(), device)
            done.append('cuda')
        if host:
            if 'numpy' in state:
                np.random.set_state(state['numpy'])
                done.append('numpy')
            if 'random' in state:
                random.setstate(state['random'])
                done.append('random')
        return done

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """Store the generators' states in ``checkpoint['meta']``."""
        checkpoint.setdefault('meta', {})[META_KEY] = self.get_rng_state()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Keep the checkpoint's states until training starts."""
        meta = checkpoint.get('meta') or {}
        self._loaded = dict(
            iter=meta.get('iter'),
            epoch=meta.get('epoch'),
            state=meta.get(META_KEY))

    def before_train_epoch(self, runner) -> None:
        """Restore all states before a resumed epoch-based run's data."""
        if not isinstance(runner.train_loop, IterBasedTrainLoop):
            self._restore(runner, host=True)

    def before_train_iter(self,
                          runner,
                          batch_idx: int,
                          data_batch: DATA_BATCH = None) -> None:
        """Restore the states at a resumed iter-based run's first batch."""
        if self._loaded is None:
            return
        workers = getattr(runner.train_dataloader, 'num_workers', 0)
        self._restore(runner, host=workers > 0)

    def _restore(self, runner, host: bool) -> None:
        """Set the kept states if the run resumes their checkpoint."""
        loaded, self._loaded = self._loaded, None
        if loaded is None or not loaded['iter']:
            return
        if (runner.iter, runner.epoch) != (loaded['iter'], loaded['epoch']):
            return  # load_from: the run did not resume the checkpoint
        if loaded['state'] is None:
            self._warn_once()
            return
        if get_world_size() > 1 and get_rank() != 0:
            return
        done = self.set_rng_state(loaded['state'], host=host)
        print_log(
            f'RNGStateHook: restored the RNG states of iteration '
            f'{runner.iter}: {", ".join(done)}.',
            logger='current')

    def _warn_once(self) -> None:
        if self._warned:
            return
        self._warned = True
        print_log(
            'RNGStateHook: the resumed checkpoint has no RNG states (it was '
            'saved without this hook); the generators keep the seeding of '
            'this run, so its random draws differ from the interrupted '
            "run's.",
            logger='current',
            level=logging.WARNING)

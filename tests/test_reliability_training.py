"""Training reliability: resume, determinism and DDP on the tiny benchmark.

Runs ``tools/train.py`` (and ``tools/dist_train.sh``) on the embedded
benchmark config with our OHEM head, shrunk to a few iterations on a
dataset of 8 images of 128 px generated once per module.
"""
import copy
import functools
import glob
import json
import os
import os.path as osp
import pickle
import random
import subprocess
import sys
from types import SimpleNamespace
from typing import Optional, Sequence

import numpy as np
import pytest
import torch
from mmdet.registry import MODELS
from mmdet.testing import demo_mm_inputs
from mmengine.config import Config
from mmengine.runner import IterBasedTrainLoop, set_random_seed
from mmengine.runner.checkpoint import (CheckpointLoader, _load_checkpoint,
                                        save_checkpoint)

from mmdet_ohem import compat
from mmdet_ohem.benchmark.hard_negatives import generate
from mmdet_ohem.hooks import RNGStateHook, rng_state_hook
from mmdet_ohem.samplers import LossRankedOHEMSampler
from helpers import (CONFIG, MAX_ITERS, ROOT, finish, free_port,
                     loader_spy_env, tiny_options, train_env)

TRAIN = osp.join(ROOT, 'tools', 'train.py')
# Logged per iteration but not a function of the weights and the data.
UNTIMED = ('time', 'data_time', 'eta')


def start_train(work_dir: str, data_root: str, *args: str,
                env: Optional[dict] = None,
                cfg_options: Sequence[str] = ()) -> subprocess.Popen:
    """Start ``tools/train.py CONFIG`` with :func:`tiny_options`.

    Args:
        work_dir (str): The ``--work-dir``.
        data_root (str): The generated dataset.
        *args (str): More ``train.py`` arguments, before ``--cfg-options``.
        env (dict, optional): The environment; :func:`train_env` if None.
        cfg_options (Sequence[str]): More ``--cfg-options`` items.

    Returns:
        subprocess.Popen: The run; pass it to :func:`finish`.
    """
    cmd = [sys.executable, TRAIN, CONFIG, '--work-dir', work_dir, *args,
           '--cfg-options', *tiny_options(data_root), *cfg_options]
    return subprocess.Popen(cmd, cwd=osp.dirname(work_dir),
                            env=env or train_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def read_scalars(work_dir: str) -> dict:
    """The per-iteration records of the run's ``vis_data/scalars.json``.

    Returns:
        dict[int, dict]: Each record by its ``iter``, without the timings.
    """
    files = glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))
    assert len(files) == 1, files  # one run per work dir
    with open(files[0]) as f:
        records = [json.loads(line) for line in f if line.strip()]
    return {
        r['iter']: {k: v for k, v in r.items() if k not in UNTIMED}
        for r in records
    }


def load_state_dict(path: str) -> dict:
    """The weights of an mmengine checkpoint (through mmdet_ohem.compat)."""
    return _load_checkpoint(path, map_location='cpu')['state_dict']


def assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def assert_same_rng_state(a: dict, b: dict) -> None:
    """Two ``rng_state`` dicts of RNGStateHook are the same states."""
    assert a.keys() == b.keys()
    assert torch.equal(a['torch'], b['torch'])
    assert all(np.array_equal(x, y) for x, y in zip(a['numpy'], b['numpy']))
    assert a['random'] == b['random']


@pytest.fixture(scope='module')
def tiny_data(tmp_path_factory) -> str:
    """8 train and 4 val images of 128 px; returns the root with ``/``."""
    root = str(tmp_path_factory.mktemp('tiny_hard_negatives'))
    generate(root, n_train=8, n_val=4, img_size=128, seed=0)
    return root + '/'


@pytest.fixture(scope='module')
def two_runs(tmp_path_factory, tiny_data) -> tuple:
    """Work dirs of two identical runs of ``MAX_ITERS`` iterations.

    They run side by side, one thread each, to use two cores.
    """
    base = tmp_path_factory.mktemp('runs')
    work_dirs = (str(base / 'uninterrupted'), str(base / 'again'))
    procs = [start_train(w, tiny_data) for w in work_dirs]
    for proc in procs:
        finish(proc)
    return work_dirs


@pytest.fixture(scope='module')
def uninterrupted(two_runs) -> str:
    return two_runs[0]


def test_same_seed_same_losses_and_picks(two_runs):
    ref, again = (read_scalars(w) for w in two_runs)
    assert sorted(ref) == list(range(1, MAX_ITERS + 1))
    # Losses, grad norm, lr and the OHEM stats the MiningStatsHook logs
    # (num_picked, fg_share, loss_picked...), all bit for bit.
    assert 'ohem/loss_picked' in ref[1] and 'loss_rpn_cls' in ref[1]
    assert again == ref
    # The picks are a real choice: fewer than the candidates.
    assert all(r['ohem/num_picked'] < r['ohem/num_candidates']
               for r in ref.values())
    assert_same_weights(*(load_state_dict(
        osp.join(w, f'iter_{MAX_ITERS}.pth')) for w in two_runs))


def test_resume_continues_the_run_exactly(uninterrupted, tiny_data,
                                          tmp_path, monkeypatch):
    checkpoint = osp.join(uninterrupted, 'iter_2.pth')
    # mmengine's checkpoints hold more than tensors, so torch's default
    # weights_only load refuses them: the resume below needs
    # mmdet_ohem.compat (train.py imports it), with torch's defaults.
    with pytest.raises(pickle.UnpicklingError):
        torch.load(checkpoint)
    # Its loader allows their types to torch's weights-only unpickler, and
    # no more (no TRUST_ENV here): this run is a test of the safe path.
    assert CheckpointLoader._schemes[''] is compat.load_from_local
    monkeypatch.delenv(compat.TRUST_ENV, raising=False)

    # The config's RNGStateHook saved the generators' states.
    meta = _load_checkpoint(checkpoint, map_location='cpu')['meta']
    assert set(meta['rng_state']) >= {'torch', 'numpy', 'random'}

    work_dir = str(tmp_path / 'resumed')
    log = finish(start_train(
        work_dir, tiny_data, '--resume', checkpoint,
        env=loader_spy_env(tmp_path),
        cfg_options=['custom_imports.imports=[mmdet_ohem,ohem_loader_spy]']))
    # The resume went through the package's safe loader.
    assert 'loader spy: mmdet_ohem.compat.load_from_local loaded ' \
        f'{checkpoint}' in log
    assert 'resumed epoch: 0, iter: 2' in log
    # mmengine's InfiniteSampler has no saved position: the loop replays
    # the 2 trained batches, which also replays the pipeline's numpy RNG
    # (num_workers=0: the pipeline runs in the trainer's process).
    assert 'Advance dataloader 2 steps' in log
    # Then, at iteration 3, torch's RNG (the RPN's RandomSampler) goes back
    # to its state of the checkpoint; numpy's is left to the replay.
    assert 'RNGStateHook: restored the RNG states of iteration 2: ' \
        'torch.' in log

    ref, resumed = read_scalars(uninterrupted), read_scalars(work_dir)
    assert sorted(resumed) == [3, 4]  # iterations 1-2 are not retrained
    # The scheduler resumes: warm-up still going, then the milestone.
    assert ref[2]['lr'] < ref[3]['lr'] and ref[4]['lr'] < ref[3]['lr']
    for it in (3, 4):
        # Same data, weights, momentum, lr, RPN anchors and OHEM picks:
        # identical numbers.
        assert resumed[it] == ref[it], it
    ends = [_load_checkpoint(osp.join(w, 'iter_4.pth'), map_location='cpu')
            for w in (uninterrupted, work_dir)]
    assert_same_weights(*(c['state_dict'] for c in ends))
    # And the generators end where the uninterrupted run's do, numpy's
    # included (restoring it at iteration 3 would rewind it by a batch:
    # with 4 iterations, a difference the losses happen not to show).
    assert_same_rng_state(*(c['meta']['rng_state'] for c in ends))


def draws() -> tuple:
    """A few numbers from each global generator RNGStateHook saves."""
    return (torch.rand(4).tolist(), np.random.rand(4).tolist(),
            random.random())


def hook_runner(iteration: int, iter_based: bool = True,
                num_workers: int = 0) -> SimpleNamespace:
    """What RNGStateHook reads of the Runner, at the start of training.

    Args:
        iteration (int): ``runner.iter``: the resumed checkpoint's, or 0
            for a ``load_from`` run.
        iter_based (bool): An ``IterBasedTrainLoop``, else an epoch loop.
        num_workers (int): The train data loader's workers.
    """
    loop = (IterBasedTrainLoop.__new__(IterBasedTrainLoop) if iter_based
            else SimpleNamespace())
    return SimpleNamespace(
        iter=iteration, epoch=0, train_loop=loop,
        train_dataloader=SimpleNamespace(num_workers=num_workers))


def save_with_hook(hook: RNGStateHook, path: str, **meta) -> None:
    """An mmengine checkpoint of iteration 2, saved with ``hook``."""
    checkpoint = dict(meta=dict(epoch=0, iter=2, **meta), state_dict={})
    hook.before_save_checkpoint(hook_runner(2), checkpoint)
    save_checkpoint(checkpoint, path)


def start_training(hook: RNGStateHook, runner: SimpleNamespace) -> None:
    """The hook calls of the train loop up to its first batch."""
    hook.before_train_epoch(runner)
    hook.before_train_iter(runner, runner.iter)


@pytest.mark.parametrize(
    'iter_based,num_workers,host',
    [(False, 0, True), (True, 2, True), (True, 0, False)],
    ids=['epoch-loop', 'iter-loop-workers', 'iter-loop-no-workers'])
def test_rng_state_hook_resumes_the_draws(tmp_path, monkeypatch,
                                          iter_based, num_workers, host):
    logs = []
    monkeypatch.setattr(rng_state_hook, 'print_log',
                        lambda msg, **kwargs: logs.append(msg))
    path = str(tmp_path / 'iter_2.pth')
    set_random_seed(1)
    save_with_hook(RNGStateHook(), path)
    after_save = draws()  # what the uninterrupted run draws next

    # The resumed run: a new process seeded by mmengine, the checkpoint
    # loaded through mmengine's loader, then the train loop starts.
    hook, runner = RNGStateHook(), hook_runner(2, iter_based, num_workers)
    set_random_seed(2)
    hook.after_load_checkpoint(runner, _load_checkpoint(path))
    own = RNGStateHook.get_rng_state()
    own_draws = draws()
    RNGStateHook.set_rng_state(own)
    start_training(hook, runner)
    resumed = draws()
    assert resumed[0] == after_save[0]  # torch's RNG: always restored
    # numpy and random: restored unless a worker-less iter-based loader
    # replays them through the pipeline.
    assert resumed[1:] == (after_save[1:] if host else own_draws[1:])
    assert len(logs) == 1 and 'iteration 2' in logs[0]
    # Once only: the next iteration draws on.
    hook.before_train_iter(runner, 3)
    assert draws()[0] != after_save[0]
    assert len(logs) == 1


def test_rng_state_hook_leaves_load_from_alone(tmp_path, monkeypatch):
    logs = []
    monkeypatch.setattr(rng_state_hook, 'print_log',
                        lambda msg, **kwargs: logs.append(msg))
    path = str(tmp_path / 'iter_2.pth')
    set_random_seed(1)
    save_with_hook(RNGStateHook(), path)

    # load_from: fine-tuning from the weights starts at iteration 0.
    for iter_based in (True, False):
        hook, runner = RNGStateHook(), hook_runner(0, iter_based, 2)
        set_random_seed(2)
        hook.after_load_checkpoint(runner, _load_checkpoint(path))
        own = RNGStateHook.get_rng_state()
        own_draws = draws()
        RNGStateHook.set_rng_state(own)
        start_training(hook, runner)
        assert draws() == own_draws
    assert logs == []


def test_rng_state_hook_warns_once_without_states(tmp_path, monkeypatch):
    logs = []
    monkeypatch.setattr(rng_state_hook, 'print_log',
                        lambda msg, **kwargs: logs.append(msg))
    path = str(tmp_path / 'iter_2.pth')
    # Saved without the hook: no rng_state in meta.
    save_checkpoint(dict(meta=dict(epoch=0, iter=2), state_dict={}), path)
    assert 'rng_state' not in _load_checkpoint(path)['meta']

    hook = RNGStateHook()
    for _ in range(2):
        runner = hook_runner(2)
        hook.after_load_checkpoint(runner, _load_checkpoint(path))
        own = RNGStateHook.get_rng_state()
        own_draws = draws()
        RNGStateHook.set_rng_state(own)
        start_training(hook, runner)
        assert draws() == own_draws  # the run goes on with its seeding
    assert len(logs) == 1 and 'no RNG states' in logs[0]
    # A load_from of such a checkpoint is no reason to warn.
    other = RNGStateHook()
    other.after_load_checkpoint(hook_runner(0), _load_checkpoint(path))
    start_training(other, hook_runner(0))
    assert len(logs) == 1


@functools.lru_cache()
def benchmark_cfg() -> Config:
    """:data:`CONFIG`, loaded once: resolving ``mmdet::`` takes 1 s."""
    return Config.fromfile(CONFIG, import_custom_modules=False)


def ohem_loss_step(seed: int):
    """One ``loss`` step of the benchmark's OHEM detector built from ``seed``.

    The model of :data:`CONFIG` (ResNet-18 at 1/4 width, OHEMRoIHead with
    a LossRankedOHEMSampler), with 300 proposals and 32 picks per image:
    a few times cheaper than ``mmdet_ohem.testing.small_detector_cfg``'s
    full-width model, and it is the model trained by the tests above.

    Returns:
        tuple: The losses (dict of tensors), the picks of each image as
        ``(pos_inds, neg_inds)`` and the sampler's stats.
    """
    cfg = copy.deepcopy(benchmark_cfg().model)
    cfg.train_cfg.rpn_proposal.max_per_img = 300
    cfg.train_cfg.rcnn.sampler.num = 32
    set_random_seed(seed)
    # The modules draw their weights from the seeded RNG as they are
    # built; init_weights is left out to save a second per model.
    model = MODELS.build(cfg)
    model.train()
    sampler = model.roi_head.bbox_sampler
    assert isinstance(sampler, LossRankedOHEMSampler)
    pick, picks = sampler.pick, []

    def capture(batch, losses):
        out = pick(batch, losses)
        picks.extend((r.pos_inds.clone(), r.neg_inds.clone())
                     for r in out.results)
        return out

    sampler.pick = capture
    data = model.data_preprocessor(
        demo_mm_inputs(2, image_shapes=(3, 128, 128), num_items=[3, 4],
                       num_classes=3), True)
    losses = model.loss(data['inputs'], data['data_samples'])
    return losses, picks, dict(sampler.stats)


def assert_same_picks(a: list, b: list) -> None:
    assert len(a) == len(b) == 2
    for (pos_a, neg_a), (pos_b, neg_b) in zip(a, b):
        assert torch.equal(pos_a, pos_b) and torch.equal(neg_a, neg_b)


def flatten(losses: dict) -> dict:
    """Loss tensors (or lists of them) as plain lists of floats."""
    out = {}
    for key, value in losses.items():
        values = value if isinstance(value, (list, tuple)) else [value]
        out[key] = [v.detach().reshape(-1).tolist() for v in values]
    return out


def test_ohem_picks_are_deterministic():
    losses, picks, stats = ohem_loss_step(0)
    # Mining chose: 32 of about 300 candidates per image.
    assert stats['num_picked'] == 32
    assert stats['num_candidates'] > 2 * stats['num_picked']
    again, picks_again, _ = ohem_loss_step(0)
    assert_same_picks(picks, picks_again)
    assert flatten(again) == flatten(losses)
    # Other weights pick other RoIs: the capture sees the real picks.
    other, picks_other, _ = ohem_loss_step(1)
    with pytest.raises(AssertionError):
        assert_same_picks(picks, picks_other)


# Each rank writes what it mined last and its weights' checksums at the
# end of training, so the test can check that the ranks agree.
RANK_DUMP = """
import json, os
import torch
from mmdet.registry import HOOKS
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper


@HOOKS.register_module()
class RankDumpHook(Hook):
    def after_train(self, runner):
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        sums = {name: float(p.detach().double().sum())
                for name, p in model.named_parameters()}
        stats = model.roi_head.bbox_sampler.stats
        with open(os.path.join(runner.work_dir,
                               f'rank{get_rank()}.json'), 'w') as f:
            json.dump(dict(sums=sums, stats=stats), f)
"""


@pytest.mark.slow
def test_dist_train_ohem_two_ranks_and_infer(tiny_data, tmp_path,
                                             monkeypatch):
    """Two CPU processes (gloo), whatever the machine has: both ranks mine
    and end with the same weights; rank 0's checkpoint infers."""
    from mmdet.apis import inference_detector, init_detector

    work_dir = str(tmp_path / 'dist')
    options = tiny_options(tiny_data, max_iters=2)
    (tmp_path / 'rank_dump.py').write_text(RANK_DUMP)
    config = tmp_path / 'ohem_dist.py'
    config.write_text(
        f'_base_ = {CONFIG!r}\n'
        "custom_imports = dict(imports=['mmdet_ohem', 'rank_dump'], "
        'allow_failed_imports=False)\n'
        "custom_hooks = [dict(type='RNGStateHook'), "
        "dict(type='MiningStatsHook'), dict(type='RankDumpHook')]\n")
    # CPU processes even where CUDA is (gloo); torchrun gives each rank
    # one thread already (OMP_NUM_THREADS=1).
    env = dict(os.environ, PYTHON=sys.executable, PORT=str(free_port()),
               CUDA_VISIBLE_DEVICES='',
               PYTHONPATH=os.pathsep.join(
                   [str(tmp_path), os.environ.get('PYTHONPATH', '')]))
    out = subprocess.run(
        ['bash', osp.join(ROOT, 'tools', 'dist_train.sh'), str(config), '2',
         '--work-dir', work_dir, '--cfg-options', *options],
        cwd=str(tmp_path), env=env, capture_output=True, text=True,
        timeout=600)
    log = out.stdout + out.stderr
    # torchrun exits 0 only if every rank did.
    assert out.returncode == 0, log[-4000:]
    # mmengine logs its world size as "GPU number".
    assert 'Distributed training: True' in log
    assert 'GPU number: 2' in log
    assert 'Iter(train) [2/2]' in log
    dumped = osp.join(work_dir, config.name)
    with open(dumped) as f:
        assert "backend='gloo'" in f.read()
    ranks = []
    for rank in (0, 1):
        with open(osp.join(work_dir, f'rank{rank}.json')) as f:
            ranks.append(json.load(f))
    for dump in ranks:  # each rank mined its own images
        assert dump['stats']['num_picked'] == 32
        assert 0 < dump['stats']['fg_share'] < 1
    assert ranks[0]['sums'] == ranks[1]['sums']  # DDP kept them equal
    assert ranks[0]['stats'] != ranks[1]['stats']

    # A fresh model from the dumped config and the checkpoint of rank 0,
    # loaded by mmengine (the compat loader) as test.py would.
    checkpoint = osp.join(work_dir, 'iter_2.pth')
    monkeypatch.syspath_prepend(str(tmp_path))  # the config imports it
    model = init_detector(dumped, checkpoint, device='cpu')
    assert_same_weights(model.state_dict(), load_state_dict(checkpoint))
    assert model.dataset_meta['classes'] == ('disk', 'square', 'triangle')
    result = inference_detector(model,
                                osp.join(tiny_data, 'val', '000001.png'))
    pred = result.pred_instances
    assert pred.bboxes.shape[1] == 4
    assert len(pred.scores) == len(pred.bboxes) == len(pred.labels)
    assert torch.isfinite(pred.bboxes).all()
    assert ((pred.labels >= 0) & (pred.labels < 3)).all()

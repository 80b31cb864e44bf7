"""Helpers shared by the test files (plain functions and constants).

Test files import them (``from helpers import build_roi_head``) instead of
importing each other or ``conftest.py``, which holds the fixtures and the
session set-up only: pytest puts this folder on ``sys.path`` for the test
files (its default ``prepend`` import mode), so ``helpers`` resolves here.
"""
import copy
import glob
import importlib.util
import json
import os
import os.path as osp
import socket
import subprocess
import sys
from types import ModuleType

import pytest
import torch
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData

from mmdet_ohem.mining import MiningSettings, select_hard_examples
from mmdet_ohem.testing import small_detector_cfg

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOOLS = osp.join(ROOT, 'tools')
# The embedded benchmark's OHEM config, which the training tests shrink.
CONFIG = osp.join(ROOT, 'configs', 'benchmarks', 'hard_negatives',
                  'faster-rcnn_r18-tiny_fpn_ohem_hard-negatives.py')

# The small RoI-head tests: classes of the detector, image side in pixels.
NUM_CLASSES = 4
IMG = 128

# Iterations of a tiny_run_options run and of a tiny_options run.
ITERS = 6
MAX_ITERS = 4


# Building blocks of the RoI-head tests ---------------------------------


def jittered_proposals(gt: torch.Tensor, num_random: int,
                       generator: torch.Generator) -> torch.Tensor:
    """Many RoIs around each gt box (positives) plus random background."""
    near = gt.repeat(12, 1)
    near = near + torch.randn(near.shape, generator=generator) * 4
    xy = torch.rand(num_random, 2, generator=generator) * (IMG - 24)
    wh = 8 + torch.rand(num_random, 2, generator=generator) * 40
    rand = torch.cat([xy, (xy + wh).clamp(max=IMG)], 1)
    boxes = torch.cat([near, rand])
    boxes[:, 2:] = torch.maximum(boxes[:, 2:], boxes[:, :2] + 2)
    return boxes.clamp(0, IMG)


def batch_of(num_imgs: int) -> tuple:
    """Features, proposals and gt for ``num_imgs`` images (1 to 3 gt each),
    seeded by ``num_imgs``."""
    g = torch.Generator().manual_seed(num_imgs)
    x = tuple(
        torch.randn(num_imgs, 256, IMG // s, IMG // s, generator=g)
        for s in (4, 8, 16, 32, 64))
    samples, proposals = [], []
    for i in range(num_imgs):
        gt = torch.tensor([[10., 10., 50., 60.], [60., 20., 120., 90.],
                           [30., 70., 70., 120.]])[:1 + i % 3]
        sample = DetDataSample(metainfo=dict(
            img_shape=(IMG, IMG), ori_shape=(IMG, IMG), scale_factor=(1, 1),
            pad_shape=(IMG, IMG), batch_input_shape=(IMG, IMG)))
        sample.gt_instances = InstanceData(
            bboxes=gt, labels=torch.arange(len(gt)) % NUM_CLASSES)
        samples.append(sample)
        boxes = jittered_proposals(gt, 100, g)
        proposals.append(
            InstanceData(bboxes=boxes, scores=torch.rand(len(boxes),
                                                         generator=g)))
    return x, proposals, samples


def select(losses, boxes, img_inds, num, *, num_imgs=None, is_pos=None,
           labels=None, random_scores=None, **settings):
    """The kept indices of ``select_hard_examples`` with ``settings``' keys
    as keywords; NMS per label when ``labels`` are given."""
    settings.setdefault('nms_per_label', labels is not None)
    return select_hard_examples(
        losses, boxes, img_inds, MiningSettings(num, **settings),
        num_imgs=num_imgs, is_pos=is_pos, labels=labels,
        random_scores=random_scores).kept


def build_roi_head(sampler: dict, head_type: str = 'StandardRoIHead',
                   seed: int = 0):
    """The RoI head of the small Faster R-CNN, weights from ``seed``."""
    torch.manual_seed(seed)
    cfg = small_detector_cfg(sampler=sampler, roi_head_type=head_type,
                             num_classes=NUM_CLASSES)
    return roi_head_of(cfg)


def roi_head_of(cfg):
    """Build and initialise the RoI head of a detector ``model`` config."""
    roi_head = copy.deepcopy(cfg.roi_head)
    roi_head.update(train_cfg=cfg.train_cfg.rcnn, test_cfg=cfg.test_cfg.rcnn)
    head = MODELS.build(roi_head)
    head.init_weights()
    # Larger logits than the 0.01-std init, so RoIs' losses differ clearly.
    with torch.no_grad():
        head.bbox_head.fc_cls.weight.normal_(0, 0.05)
        head.bbox_head.fc_reg.weight.normal_(0, 0.05)
    head.train()
    return head


# The tools and the machine ----------------------------------------------


def load_tool(name: str) -> ModuleType:
    """``tools/<name>.py`` as a module (tools/ is no package), e.g.
    ``load_tool('analysis/benchmark')``."""
    path = osp.join(TOOLS, f'{name}.py')
    spec = importlib.util.spec_from_file_location(
        name.replace('/', '_') + '_tool', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def require(condition: bool, reason: str) -> None:
    """Skip without ``condition`` on a user's machine; fail in CI.

    CI (the ``CI`` environment variable set) has every precondition these
    tests need (the real photos beside the checkout, a Linux /proc), so a
    missing one there is an error, not a reason to skip.
    """
    if condition:
        return
    if os.environ.get('CI'):
        pytest.fail(f'CI lacks a precondition of this test: {reason}')
    pytest.skip(reason)


def free_port() -> int:
    """A TCP port free now; torchrun binds it a moment later."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


# Short real runs of the tools on the embedded data ---------------------


def tool(name, *args, cwd, timeout=300):
    """Run ``tools/<name>`` in a subprocess; it must succeed."""
    out = subprocess.run(
        [sys.executable, osp.join(TOOLS, name), *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    return out


def tiny_dataset(tmp):
    """Generate the embedded set small (8 + 4 images at 128 px) in ``tmp``."""
    data = tmp / 'data'
    tool(
        'data/generate_hard_negatives.py',
        '--out',
        data,
        '--n-train',
        8,
        '--n-val',
        4,
        '--img-size',
        128,
        cwd=tmp)
    return data


def tiny_run_options(data_root, rpn_proposals=True):
    """Shrink the benchmark config to :data:`ITERS` iterations on
    ``data_root``, validated at the end (and Faster R-CNN's RPN to 200
    proposals, unless ``rpn_proposals`` is False: detectors without that
    stage)."""
    return [
        f'train_dataloader.dataset.data_root={data_root}/',
        f'val_dataloader.dataset.data_root={data_root}/',
        f'test_dataloader.dataset.data_root={data_root}/',
        f'val_evaluator.ann_file={data_root}/annotations/instances_val.json',
        f'test_evaluator.ann_file={data_root}/annotations/instances_val.json',
        'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'val_dataloader.num_workers=0',
        'test_dataloader.num_workers=0',
        'val_dataloader.persistent_workers=False',
        'test_dataloader.persistent_workers=False',
        f'train_cfg.max_iters={ITERS}',
        f'train_cfg.val_interval={ITERS}',
        f'param_scheduler.0.end={ITERS}',
        f'param_scheduler.1.end={ITERS}',
        f'default_hooks.checkpoint.interval={ITERS}',
        'default_hooks.logger.interval=1',
    ] + (['model.train_cfg.rpn_proposal.max_per_img=200']
         if rpn_proposals else [])


def scalars(work_dir):
    """The records of the run's ``vis_data/scalars.json``, in order."""
    paths = glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))
    assert len(paths) == 1, paths
    with open(paths[0]) as f:
        return [json.loads(line) for line in f]


def tiny_options(data_root: str, max_iters: int = MAX_ITERS) -> list:
    """``--cfg-options`` that shrink the benchmark to seconds on a CPU.

    * batches of 2 in the main process (``num_workers=0``), images resized
      to 128 px, 100 proposals per image and 32 OHEM picks per image, so
      the sampler still has to choose;
    * no validation (the base config validates at ``max_iters``), so the
      val data settings are left as they are;
    * a log line and a ``scalars.json`` record per iteration, with
      ``window_size=1`` so each record is that iteration's loss, not a
      running mean;
    * a checkpoint every 2 iterations, all kept (the base keeps one);
    * the MultiStepLR milestone at iteration 3, so a resume from iteration
      2 has to restore the scheduler's progress, not only the lr value;
    * the config's default RPN sampling (256 random anchors per image, from
      torch's global RNG), which a resume continues exactly only with the
      config's ``RNGStateHook``: mmengine saves no RNG state and reseeds;
    * deterministic algorithms and a fixed seed.

    Args:
        data_root (str): The generated dataset, ending with ``/``.
        max_iters (int): Training iterations.

    Returns:
        list[str]: ``key=value`` items for ``--cfg-options``.
    """
    return [
        f'train_dataloader.dataset.data_root={data_root}',
        'train_dataloader.batch_size=2',
        'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'train_dataloader.dataset.pipeline.2.scale=(128,128)',
        f'train_cfg.max_iters={max_iters}',
        'val_cfg=None', 'val_dataloader=None', 'val_evaluator=None',
        'param_scheduler.1.milestones=[3]',
        f'param_scheduler.1.end={max_iters}',
        'model.train_cfg.rpn_proposal.max_per_img=100',
        'model.train_cfg.rcnn.sampler.num=32',
        'default_hooks.logger.interval=1',
        'log_processor.window_size=1',
        'default_hooks.checkpoint.interval=2',
        'default_hooks.checkpoint.max_keep_ckpts=-1',
        'randomness.seed=0', 'randomness.deterministic=True',
    ]


def train_env() -> dict:
    """The environment of a training subprocess.

    One BLAS/OpenMP thread: the test machines have few cores shared by
    other jobs, where torch's default of one thread per core makes an
    iteration ten times slower; it also fixes the order of the float
    reductions, so the runs compared below use the same one.
    """
    return dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')


# A module for ``custom_imports`` that wraps the local checkpoint loader
# mmdet_ohem registered, so a training subprocess shows it loaded through it.
LOADER_SPY = """
from mmengine.runner.checkpoint import CheckpointLoader

from mmdet_ohem import compat

assert CheckpointLoader._schemes[''] is compat.load_from_local, \\
    CheckpointLoader._schemes['']


def spy(filename, map_location=None):
    checkpoint = compat.load_from_local(filename, map_location)
    print('loader spy: mmdet_ohem.compat.load_from_local loaded', filename,
          flush=True)
    return checkpoint


CheckpointLoader.register_scheme(prefixes='', loader=spy, force=True)
"""


def loader_spy_env(folder) -> dict:
    """:func:`train_env` where ``custom_imports`` can name ``ohem_loader_spy``
    (:data:`LOADER_SPY`, written to ``folder``)."""
    with open(osp.join(str(folder), 'ohem_loader_spy.py'), 'w') as f:
        f.write(LOADER_SPY)
    env = train_env()
    env['PYTHONPATH'] = os.pathsep.join(
        p for p in (str(folder), env.get('PYTHONPATH')) if p)
    return env


def finish(proc: subprocess.Popen, timeout: float = 300) -> str:
    """Wait for a training subprocess; it must succeed.

    Returns:
        str: Its stdout and stderr.
    """
    try:
        log, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        log, _ = proc.communicate()
        pytest.fail(f'train.py ran over {timeout} s:\n{log[-4000:]}')
    assert proc.returncode == 0, log[-4000:]
    return log

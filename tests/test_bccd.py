"""configs/benchmarks/bccd: dense real photos, with the set's quirks kept.

BCCD (``BCCD_ROOT``, read in place; skipped where absent, an error in CI)
has two zero-area boxes (``BloodImage_00338``, ``BloodImage_00343``). The
configs drop them (``FilterAnnotations``); here they are let through, as a
user's own VOC data would, to check that OHEM never trains on their NaN
box targets: such a gt box becomes a candidate (``add_gt_as_proposals``)
with a NaN ranking loss, is never picked and is warned about once.
"""
import json
import math
import os
import os.path as osp
import subprocess
import sys

import pytest
from mmdet.registry import DATASETS
from mmdet.utils import register_all_modules
from mmengine.config import Config

from helpers import require

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
RANDOM = osp.join(ROOT, 'configs', 'benchmarks', 'bccd',
                  'faster-rcnn_r18-tiny_fpn_random_bccd.py')
QUIRKY = ('BloodImage_00338', 'BloodImage_00343')


@pytest.fixture
def bccd():
    root = os.environ.get('BCCD_ROOT', '')
    require(osp.isdir(root), 'BCCD not found: set BCCD_ROOT')
    return root


def test_config_reads_trainval_and_test(bccd):
    register_all_modules()
    cfg = Config.fromfile(RANDOM)
    train = DATASETS.build(cfg.train_dataloader.dataset)
    test = DATASETS.build(cfg.val_dataloader.dataset)
    assert (len(train), len(test)) == (292, 72)
    assert train.metainfo['classes'] == ('RBC', 'WBC', 'Platelets')
    # The pipeline drops the two zero-area boxes before the model.
    steps = [t['type'] for t in cfg.train_pipeline]
    assert 'FilterAnnotations' in steps


@pytest.mark.parametrize('head', ['StandardRoIHead', 'OHEMRoIHead'])
def test_zero_area_boxes_are_never_picked(bccd, head, tmp_path):
    ids = tmp_path / 'quirky.txt'
    ids.write_text('\n'.join(QUIRKY))
    cfg = Config.fromfile(RANDOM)
    pipeline = [t for t in cfg.train_pipeline
                if t['type'] != 'FilterAnnotations']
    config = tmp_path / 'bccd_quirky.py'
    config.write_text(
        f'_base_ = {RANDOM!r}\n'
        f'train_dataloader = dict(dataset=dict(ann_file={str(ids)!r}, '
        f'pipeline={pipeline!r}))\n')
    options = [
        f'model.roi_head.type={head}',
        'model.train_cfg.rcnn.sampler.type=LossRankedOHEMSampler',
        'model.train_cfg.rcnn.sampler.pos_fraction=None',
        'model.train_cfg.rcnn.sampler.nms_thr=0.5',
        'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'train_cfg.max_iters=3', 'train_cfg.val_interval=100',
        'default_hooks.logger.interval=1',
        'default_hooks.checkpoint.interval=100',
        'log_processor.window_size=1',
    ]
    env = dict(os.environ, OMP_NUM_THREADS='1', BCCD_ROOT=bccd)
    out = subprocess.run(
        [sys.executable, osp.join(ROOT, 'tools', 'train.py'), str(config),
         '--work-dir', str(tmp_path / 'work'), '--cfg-options', *options],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-4000:]
    assert log.count('never picked (warned once)') == 1, log[-4000:]
    with open(next((tmp_path / 'work').glob('*/vis_data/scalars.json'))) as f:
        records = [json.loads(line) for line in f if line.strip()]
    losses = [r for r in records if 'loss' in r]
    assert [r['iter'] for r in losses] == [1, 2, 3]
    for r in losses:
        for key in ('loss', 'loss_cls', 'loss_bbox'):
            assert math.isfinite(r[key]) and abs(r[key]) < 1e6, (key, r)

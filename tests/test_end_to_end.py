"""A real train + eval on the embedded data, through the user's tools.

generate_hard_negatives.py -> train.py (our OHEM head, CocoMetric at the
end) -> test.py on the checkpoint -> compare.py. Small images and few
iterations keep it in the default run.
"""
import math
import os.path as osp
import pickle

import pytest
import torch

from helpers import (CONFIG, ITERS, ROOT, scalars, tiny_dataset,
                     tiny_run_options, tool)


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('e2e')
    data = tiny_dataset(tmp)
    work_dir = tmp / 'ohem'
    opts = tiny_run_options(data)
    out = tool(
        'train.py',
        CONFIG,
        '--work-dir',
        work_dir,
        '--cfg-options',
        *opts,
        cwd=ROOT)
    return tmp, work_dir, opts, out


def test_train_logs_losses_mining_stats_and_coco_map(trained):
    _, work_dir, _, _ = trained
    records = scalars(work_dir)
    train = [r for r in records if 'loss' in r]
    assert [r['iter'] for r in train] == list(range(1, ITERS + 1))
    for r in train:
        assert math.isfinite(r['loss'])
        # 64 RoIs per image picked out of hundreds, NMS dropped some.
        assert r['ohem/num_picked'] == 64
        assert r['ohem/num_candidates'] >= r['ohem/num_after_nms'] >= 64
        assert 0 <= r['ohem/fg_share'] <= 1
        assert r['ohem/loss_picked'] >= r['ohem/loss_all']
    metrics = [r for r in records if 'coco/bbox_mAP' in r]
    assert len(metrics) == 1
    assert 0 <= metrics[0]['coco/bbox_mAP'] <= 1
    assert osp.isfile(work_dir / f'iter_{ITERS}.pth')


def test_checkpoint_tests_identically_with_the_plain_head(trained):
    """Inference is StandardRoIHead's: the same boxes, scores and labels."""
    tmp, work_dir, opts, _ = trained
    checkpoint = work_dir / f'iter_{ITERS}.pth'
    dumps = []
    for name, head in (('ohem', []), ('plain', [
            'model.roi_head.type=StandardRoIHead',
            'model.train_cfg.rcnn.sampler.type=RandomSampler'
    ])):
        dump = tmp / f'{name}.pkl'
        tool(
            'test.py',
            CONFIG,
            checkpoint,
            '--work-dir',
            tmp / f'test_{name}',
            '--out',
            dump,
            '--cfg-options',
            *opts,
            *head,
            cwd=ROOT)
        with open(dump, 'rb') as f:
            dumps.append(pickle.load(f))
    ours, plain = dumps
    assert len(ours) == len(plain) == 4  # the val images
    num_boxes = 0
    for a, b in zip(ours, plain):
        assert a['img_path'] == b['img_path']
        for key in ('bboxes', 'scores', 'labels'):
            assert torch.equal(a['pred_instances'][key],
                               b['pred_instances'][key]), key
        num_boxes += len(a['pred_instances']['bboxes'])
    assert num_boxes > 0  # something to compare


def test_compare_reads_the_run(trained):
    tmp, work_dir, _, _ = trained
    png = tmp / 'compare.png'
    out = tool(
        'analysis/compare.py',
        work_dir,
        '--names',
        'ohem',
        '--out',
        png,
        cwd=ROOT)
    assert 'ohem' in out.stdout and 'bbox_mAP' in out.stdout
    assert png.stat().st_size > 10_000

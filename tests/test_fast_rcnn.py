"""Fast R-CNN with OHEM end to end, on proposals an RPN dumped.

mmdet's two-step recipe on the embedded data, through the user's tools:
train.py on the RPN config -> test.py dumps the val and train proposals
(mmdet's ``DumpProposals``) -> train.py on the Fast R-CNN OHEM config,
which reads them (``LoadProposals``), mines and evaluates with CocoMetric.
"""
import os.path as osp
import pickle
import subprocess
import sys

import numpy as np
import pytest

from helpers import ITERS, ROOT, scalars, tiny_dataset, tiny_run_options, tool

CONFIGS = osp.join(ROOT, 'configs', 'benchmarks', 'hard_negatives')
RPN = osp.join(CONFIGS, 'rpn_r18-tiny_fpn_hard-negatives.py')
FAST = osp.join(CONFIGS, 'fast-rcnn_r18-tiny_fpn_ohem_hard-negatives.py')
N_TRAIN, N_VAL = 8, 4  # tiny_dataset


@pytest.fixture(scope='module')
def pipeline(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('fast_rcnn')
    data = tiny_dataset(tmp)
    opts = tiny_run_options(data, rpn_proposals=False)
    # DumpProposals writes beside the data; it has no ann_file.
    dump_opts = [
        o for o in opts if not o.startswith('test_evaluator.ann_file')
    ] + [f'test_evaluator.output_dir={data}/proposals/']
    rpn_dir = tmp / 'rpn'
    tool(
        'train.py',
        RPN,
        '--work-dir',
        rpn_dir,
        '--cfg-options',
        *opts,
        cwd=ROOT)
    checkpoint = rpn_dir / f'iter_{ITERS}.pth'
    # The config's test split is val; the train split by --cfg-options,
    # as docs/fast_rcnn.md shows.
    tool(
        'test.py',
        RPN,
        checkpoint,
        '--work-dir',
        tmp / 'dump_val',
        '--cfg-options',
        *dump_opts,
        cwd=ROOT)
    tool(
        'test.py',
        RPN,
        checkpoint,
        '--work-dir',
        tmp / 'dump_train',
        '--cfg-options',
        *dump_opts,
        'test_dataloader.dataset.ann_file=annotations/instances_train.json',
        'test_dataloader.dataset.data_prefix.img=train/',
        'test_evaluator.proposals_file=rpn_train.pkl',
        cwd=ROOT)
    fast_dir = tmp / 'fast'
    tool(
        'train.py',
        FAST,
        '--work-dir',
        fast_dir,
        '--cfg-options',
        *opts,
        cwd=ROOT)
    return data, rpn_dir, fast_dir


def load_proposals(data, split):
    with open(data / 'proposals' / f'rpn_{split}.pkl', 'rb') as f:
        return pickle.load(f)


def test_rpn_reports_recall_and_dumps_every_image(pipeline):
    data, rpn_dir, _ = pipeline
    recall = [r for r in scalars(rpn_dir) if 'coco/AR@100' in r]
    assert len(recall) == 1 and 0 <= recall[0]['coco/AR@100'] <= 1
    for split, n in (('train', N_TRAIN), ('val', N_VAL)):
        proposals = load_proposals(data, split)
        # Keyed as BaseDetDataset.load_proposals looks them up.
        assert sorted(proposals) == [
            f'{split}/{i:06d}.png' for i in range(1, n + 1)
        ]
        for p in proposals.values():
            assert 0 < len(p.bboxes) <= 500  # the config's num_proposals
            assert p.bboxes.shape[1] == 4
            assert np.all(np.diff(p.scores) <= 0)  # ranked, as dumped
            assert np.all(p.bboxes[:, 2:] >= p.bboxes[:, :2])


def test_fast_rcnn_mines_the_dumped_proposals_and_evaluates(pipeline):
    data, _, fast_dir = pipeline
    counts = [len(p.bboxes) for p in load_proposals(data, 'train').values()]
    assert min(counts) >= 64  # enough for 32 hard and 32 random picks
    records = scalars(fast_dir)
    steps = [r for r in records if 'loss' in r]
    assert [r['iter'] for r in steps] == list(range(1, ITERS + 1))
    for r in steps:
        assert np.isfinite(r['loss'])
        # The candidates are the file's proposals (plus the gt boxes,
        # add_gt_as_proposals): more than the picks, NMS by loss thinned
        # them; per image the 32 hardest survivors and 32 other candidates
        # at random (the entry config's random_fraction=0.5) were picked.
        assert min(counts) <= r['ohem/num_candidates'] <= max(counts) + 20
        assert r['ohem/num_candidates'] > r['ohem/num_after_nms']
        assert r['ohem/num_picked'] == min(32, r['ohem/num_after_nms']) + 32
        assert r['ohem/loss_picked'] >= r['ohem/loss_all']
    metrics = [r for r in records if 'coco/bbox_mAP' in r]
    assert len(metrics) == 1 and 0 <= metrics[0]['coco/bbox_mAP'] <= 1
    assert osp.isfile(fast_dir / f'iter_{ITERS}.pth')


def test_missing_proposals_name_the_file_and_the_fix(pipeline, tmp_path):
    data, _, _ = pipeline
    out = subprocess.run([
        sys.executable,
        osp.join(ROOT, 'tools', 'train.py'), FAST, '--work-dir', tmp_path,
        '--cfg-options', *tiny_run_options(data, rpn_proposals=False),
        'train_dataloader.dataset.proposal_file=proposals/rpn_test.pkl'
    ],
                         cwd=ROOT,
                         capture_output=True,
                         text=True,
                         timeout=120)
    assert out.returncode != 0
    assert f'Proposals not found at {data}/proposals/rpn_test.pkl ' \
        '(train_dataloader.dataset.proposal_file)' in out.stderr
    assert 'DumpProposals' in out.stderr

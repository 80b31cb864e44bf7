"""tools/train.py, tools/test.py, dist_*.sh and the dataset check."""
import os
import os.path as osp
import subprocess
import sys
import textwrap
import time

import pytest
import torch
from mmengine.config import Config

from mmdet_ohem.utils import check_dataset_files, setup_cpu_distributed
from helpers import free_port

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = osp.join(ROOT, 'configs', 'faster_rcnn_ohem.py')
COCO_MESSAGE = ('COCO annotations not found at '
                'data/coco/annotations/instances_train2017.json. Put COCO '
                '2017 under data/coco (see mmdet docs) or run the embedded '
                'benchmark: make demo')


def run_tool(args, cwd, timeout=60):
    start = time.monotonic()
    out = subprocess.run([sys.executable] + args, cwd=cwd, timeout=timeout,
                         capture_output=True, text=True)
    return out, time.monotonic() - start


def coco_like(data_root, ann_file='annotations/train.json', **extra):
    return dict(type='CocoDataset', data_root=data_root, ann_file=ann_file,
                **extra)


def test_missing_coco_message(tmp_path, monkeypatch):
    cfg = Config.fromfile(CONFIG, import_custom_modules=False)
    monkeypatch.chdir(tmp_path)  # no data/ here
    with pytest.raises(FileNotFoundError) as error:
        check_dataset_files(cfg)
    assert str(error.value) == COCO_MESSAGE


def test_missing_hard_negatives_message(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = dict(train_dataloader=dict(dataset=coco_like(
        'data/hard_negatives/', 'annotations/instances_train.json')))
    with pytest.raises(FileNotFoundError) as error:
        check_dataset_files(cfg)
    assert str(error.value) == (
        'Annotations not found at '
        'data/hard_negatives/annotations/instances_train.json. Generate the '
        'dataset: python tools/data/generate_hard_negatives.py --out '
        'data/hard_negatives, or run the embedded benchmark: make demo')


def test_existing_files_pass_and_wrappers_are_followed(tmp_path):
    (tmp_path / 'annotations').mkdir()
    (tmp_path / 'annotations' / 'train.json').write_text('{}')
    root = f'{tmp_path}/'
    ok = coco_like(root)
    cfg = dict(train_dataloader=dict(dataset=ok))
    check_dataset_files(cfg)
    cfg = dict(train_dataloader=dict(dataset=dict(
        type='RepeatDataset', times=3, dataset=ok)))
    check_dataset_files(cfg)

    missing = coco_like(root, 'annotations/extra.json')
    cfg = dict(train_dataloader=dict(dataset=dict(
        type='RepeatDataset', times=3, dataset=dict(
            type='ConcatDataset', datasets=[ok, missing]))))
    with pytest.raises(FileNotFoundError) as error:
        check_dataset_files(cfg)
    message = str(error.value)
    assert f'{root}annotations/extra.json' in message
    assert 'train_dataloader.dataset.dataset.datasets[1]' in message
    assert 'make demo' in message


def test_missing_proposal_file_named_with_the_recipe(tmp_path):
    (tmp_path / 'annotations').mkdir()
    (tmp_path / 'annotations' / 'train.json').write_text('{}')
    root = f'{tmp_path}/'
    with_proposals = coco_like(root, proposal_file='proposals/train.pkl')
    cfg = dict(train_dataloader=dict(dataset=dict(
        type='RepeatDataset', times=2, dataset=with_proposals)))
    with pytest.raises(FileNotFoundError) as error:
        check_dataset_files(cfg)
    assert str(error.value) == (
        f'Proposals not found at {root}proposals/train.pkl '
        '(train_dataloader.dataset.dataset.proposal_file). Fast R-CNN reads '
        'the proposals an RPN dumped for this split: train the RPN, then run '
        "tools/test.py on it with mmdet's DumpProposals metric "
        '(docs/fast_rcnn.md)')
    (tmp_path / 'proposals').mkdir()
    (tmp_path / 'proposals' / 'train.pkl').write_bytes(b'')
    check_dataset_files(cfg)
    # Absolute like mmdet's BaseDetDataset: not joined to data_root.
    with_proposals['proposal_file'] = str(tmp_path / 'proposals' / 'x.pkl')
    with pytest.raises(FileNotFoundError, match=f'at {tmp_path}/proposals/'):
        check_dataset_files(cfg)


def test_absolute_remote_and_empty_ann_files(tmp_path):
    absolute = tmp_path / 'abs.json'
    absolute.write_text('{}')
    check_dataset_files(dict(train_dataloader=dict(
        dataset=coco_like('/nonexistent/', str(absolute)))))
    check_dataset_files(dict(train_dataloader=dict(
        dataset=coco_like('s3://bucket/coco/', 'annotations/x.json'))))
    check_dataset_files(dict(train_dataloader=dict(
        dataset=dict(type='ToyData'))))


def test_val_checked_only_with_a_val_loop(tmp_path):
    (tmp_path / 'train.json').write_text('{}')
    cfg = dict(
        train_dataloader=dict(dataset=coco_like(f'{tmp_path}/', 'train.json')),
        val_dataloader=dict(dataset=coco_like(f'{tmp_path}/', 'val.json')),
        val_cfg=None)
    check_dataset_files(cfg)
    cfg['val_cfg'] = dict(type='ValLoop')
    with pytest.raises(FileNotFoundError, match='val.json'):
        check_dataset_files(cfg)
    check_dataset_files(cfg, loaders=('train_dataloader', ))


def test_train_without_coco_fails_fast(tmp_path):
    out, seconds = run_tool([osp.join(ROOT, 'tools', 'train.py'), CONFIG],
                            cwd=tmp_path)
    assert out.returncode == 1
    assert COCO_MESSAGE in out.stderr
    assert 'Traceback' not in out.stderr
    # The stack's import (~6 s of CPU), then the check: no model, no
    # dataset, no work dir built (the run without the check takes longer
    # and ends in mmengine's traceback).
    assert seconds < 30
    assert not (tmp_path / 'work_dirs').exists()


def test_train_cfg_options_data_root(tmp_path):
    out, _ = run_tool([
        osp.join(ROOT, 'tools', 'train.py'), CONFIG, '--cfg-options',
        'train_dataloader.dataset.data_root=/nonexistent/'
    ], cwd=tmp_path)
    assert out.returncode == 1
    assert ('/nonexistent/annotations/instances_train2017.json'
            in out.stderr)


def test_test_tool_checks_test_data_and_checkpoint(tmp_path):
    test_py = osp.join(ROOT, 'tools', 'test.py')
    out, _ = run_tool([test_py, CONFIG, 'nope.pth'], cwd=tmp_path)
    assert out.returncode == 1
    assert 'data/coco/annotations/instances_val2017.json' in out.stderr
    (tmp_path / 'val.json').write_text('{}')
    out, _ = run_tool([
        test_py, CONFIG, 'nope.pth', '--cfg-options',
        f'test_dataloader.dataset.data_root={tmp_path}/',
        'test_dataloader.dataset.ann_file=val.json'
    ], cwd=tmp_path)
    assert out.returncode == 1
    assert 'Checkpoint not found: nope.pth' in out.stderr


@pytest.mark.parametrize('tool, flags', [
    ('train.py', ['--work-dir', '--resume', '--amp', '--auto-scale-lr',
                  '--cfg-options', '--launcher', '--local_rank',
                  '--local-rank', '--check-data', '--check-images']),
    ('test.py', ['--work-dir', '--out', '--show', '--show-dir',
                 '--wait-time', '--cfg-options', '--launcher', '--tta',
                 '--local-rank', '--check-data']),
])
def test_tools_have_mmdetection_flags(tool, flags, tmp_path):
    out, _ = run_tool([osp.join(ROOT, 'tools', tool), '--help'],
                      cwd=tmp_path)
    assert out.returncode == 0
    for flag in flags:
        assert flag in out.stdout
    assert '{none,pytorch,slurm,mpi}' in out.stdout


@pytest.mark.skipif(torch.cuda.is_available(), reason='CPU-only behaviour')
def test_cpu_distributed_uses_gloo(monkeypatch):
    cfg = Config(dict(launcher='none',
                      env_cfg=dict(dist_cfg=dict(backend='nccl'))))
    assert not setup_cpu_distributed(cfg)
    assert cfg.env_cfg.dist_cfg.backend == 'nccl'

    cfg = Config(dict(launcher='slurm', find_unused_parameters=True,
                      env_cfg=dict(dist_cfg=dict(backend='nccl'))))
    assert setup_cpu_distributed(cfg)
    assert cfg.env_cfg.dist_cfg.backend == 'gloo'
    assert cfg.model_wrapper_cfg.device_ids is None
    assert cfg.model_wrapper_cfg.find_unused_parameters
    assert not torch.distributed.is_initialized()

    for key, value in dict(RANK='0', WORLD_SIZE='1', MASTER_ADDR='127.0.0.1',
                           MASTER_PORT='29731').items():
        monkeypatch.setenv(key, value)
    cfg = Config(
        dict(launcher='pytorch',
             env_cfg=dict(dist_cfg=dict(backend='nccl')),
             model_wrapper_cfg=dict(type='MMDistributedDataParallel')))
    try:
        assert setup_cpu_distributed(cfg)
        assert torch.distributed.get_backend() == 'gloo'
        assert cfg.model_wrapper_cfg.device_ids is None
    finally:
        if torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


TOY_MODEL = '''
import torch
import torch.distributed as dist
from mmengine.model import BaseModel
from mmengine.registry import DATASETS, MODELS
from torch.utils.data import Dataset


@MODELS.register_module()
class ToyModel(BaseModel):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(2, 1)

    def forward(self, inputs, data_samples=None, mode='loss'):
        print(f'rank {dist.get_rank()}/{dist.get_world_size()} '
              f'{dist.get_backend()}', flush=True)
        return dict(loss=(self.fc(torch.stack(inputs)) ** 2).mean())


@DATASETS.register_module()
class ToyData(Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        return dict(inputs=torch.ones(2) * i)
'''

TOY_CONFIG = '''
custom_imports = dict(imports=['toy_model'], allow_failed_imports=False)
default_scope = None
model = dict(type='ToyModel')
train_dataloader = dict(
    batch_size=2, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='ToyData'))
train_cfg = dict(by_epoch=True, max_epochs=1)
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.01))
env_cfg = dict(dist_cfg=dict(backend='nccl'))  # as mmdet's default_runtime
'''


@pytest.mark.slow
def test_dist_train_on_cpu(tmp_path):
    (tmp_path / 'toy_model.py').write_text(textwrap.dedent(TOY_MODEL))
    (tmp_path / 'toy.py').write_text(TOY_CONFIG)
    # CPU processes even where CUDA is.
    env = dict(os.environ, PYTHON=sys.executable, PORT=str(free_port()),
               PYTHONPATH=str(tmp_path), CUDA_VISIBLE_DEVICES='')
    out = subprocess.run(
        ['bash', osp.join(ROOT, 'tools', 'dist_train.sh'), 'toy.py', '2',
         '--work-dir', str(tmp_path / 'wd')],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert 'rank 0/2 gloo' in out.stdout and 'rank 1/2 gloo' in out.stdout

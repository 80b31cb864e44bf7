"""configs/benchmarks/raccoon and tools/data/prepare_raccoon.py: OHEM on real
photos.

The raccoon photos (200 JPEGs with PASCAL VOC XML, one class) are read in
place from ``../shared/datasets/raccoon`` beside the repository; they are
not shipped, so the tests that read them skip where the folder is absent.
The others (split logic, configs, messages) run everywhere.
"""
import glob
import hashlib
import json
import os
import os.path as osp
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from mmdet.registry import DATASETS
from mmengine.config import Config

from mmdet_ohem.utils import check_dataset_files
from helpers import load_tool, require

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
RACCOON = osp.normpath(osp.join(ROOT, '..', 'shared', 'datasets', 'raccoon'))
CONFIGS = osp.join(ROOT, 'configs', 'benchmarks', 'raccoon')
OURS = osp.join(CONFIGS, 'faster-rcnn_r18-tiny_fpn_ohem_raccoon.py')
RANDOM = osp.join(CONFIGS, 'faster-rcnn_r18-tiny_fpn_random_raccoon.py')
HARD_NEGATIVES = osp.join(ROOT, 'configs', 'benchmarks',
                          'hard_negatives')
TRAIN = osp.join(ROOT, 'tools', 'train.py')
NUM_PHOTOS = 200


@pytest.fixture
def raccoon_photos():
    require(
        osp.isdir(RACCOON), f'raccoon photos not at {RACCOON} (not '
        'shipped with the project)')


needs_raccoon = pytest.mark.usefixtures('raccoon_photos')


prepare_raccoon = load_tool('data/prepare_raccoon')


def read_ids(path: str) -> list:
    with open(path) as f:
        return f.read().split()


def xml_boxes(img_id: str) -> np.ndarray:
    """The boxes of an annotation file, read here without mmdet."""
    root = ET.parse(osp.join(RACCOON, 'annotations', f'{img_id}.xml'))
    return np.array(
        [[float(b.find(k).text) for k in ('xmin', 'ymin', 'xmax', 'ymax')]
         for b in root.iter('bndbox')]).reshape(-1, 4)


@pytest.fixture(scope='module')
def splits(tmp_path_factory) -> str:
    """The default split (seed 0) written once into a temporary folder."""
    out = str(tmp_path_factory.mktemp('raccoon_splits'))
    prepare_raccoon.prepare(RACCOON, out)
    return out


# -- without the photos ------------------------------------------------------


def test_split_ids_keeps_identical_photos_together():
    ids = [f'img-{i}' for i in range(1, 31)]
    # img-1/img-2, img-3/img-4, ... are the same photo twice
    groups = {i: str((int(i.split('-')[1]) + 1) // 2) for i in ids}
    for seed in range(5):
        train, val = prepare_raccoon.split_ids(ids, 0.2, seed, groups)
        assert len(val) == 6 and sorted(train + val) == sorted(ids)
        for i in range(1, 31, 2):
            assert (f'img-{i}' in val) == (f'img-{i + 1}' in val), seed
    assert prepare_raccoon.split_ids(ids, 0.2, 0, groups) == \
        prepare_raccoon.split_ids(list(reversed(ids)), 0.2, 0, groups)
    assert prepare_raccoon.split_ids(ids, 0.2, 0, groups)[1] != \
        prepare_raccoon.split_ids(ids, 0.2, 1, groups)[1]


@pytest.mark.parametrize('fraction', [0.0, 1.0, 0.01])
def test_split_ids_rejects_an_empty_side(fraction):
    with pytest.raises(ValueError, match='empty'):
        prepare_raccoon.split_ids(['a', 'b', 'c'], fraction)


def test_prepare_without_photos_fails_clearly(tmp_path, capsys):
    out = tmp_path / 'out'
    with pytest.raises(SystemExit) as error:
        prepare_raccoon.main(
            ['--root', str(tmp_path / 'absent'), '--out',
             str(out)])
    assert error.value.code == 1
    err = capsys.readouterr().err
    assert f'Raccoon photos not found at {tmp_path / "absent"}' in err
    assert 'annotations/*.xml' in err
    assert '--root' in err and 'RACCOON_ROOT' in err
    assert not out.exists()


def test_prepare_reads_the_root_as_the_configs(tmp_path, monkeypatch):
    """--root, else RACCOON_ROOT (read when run), else data/raccoon_photos;
    no folder of the development setup."""
    monkeypatch.setenv('RACCOON_ROOT', str(tmp_path / 'env'))
    assert prepare_raccoon.parse_args([]).root == str(tmp_path / 'env')
    assert prepare_raccoon.parse_args(['--root', 'x']).root == 'x'
    monkeypatch.delenv('RACCOON_ROOT')
    assert prepare_raccoon.parse_args([]).root == 'data/raccoon_photos'
    assert Config.fromfile(RANDOM).data_root == 'data/raccoon_photos/'


def test_prepare_help_names_no_development_folder(capsys):
    with pytest.raises(SystemExit):
        prepare_raccoon.parse_args(['--help'])
    help_text = ' '.join(capsys.readouterr().out.split())
    assert '$RACCOON_ROOT, else data/raccoon_photos' in help_text
    assert 'shared' not in help_text


def test_configs_differ_only_in_sampling():
    """The entry config's mining on the photos, nothing else changed.

    Runs without the photos: loading and building needs no data.
    """
    ours, random = (Config.fromfile(p).to_dict() for p in (OURS, RANDOM))
    bench_random = Config.fromfile(
        osp.join(HARD_NEGATIVES,
                 'faster-rcnn_r18-tiny_fpn_random_hard-negatives.py'))
    entry = Config.fromfile(osp.join(ROOT, 'configs',
                                     'faster_rcnn_ohem.py')).to_dict()
    # Ours mines as the entry config (NMS by loss at 0.5 per label, 64/img).
    sampler = ours['model']['train_cfg']['rcnn']['sampler']
    want = entry['model']['train_cfg']['rcnn']['sampler']
    assert sampler == {k: v for k, v in want.items() if k in sampler}
    assert {'nms_thr', 'nms_per_label', 'num', 'ranking'} <= set(sampler)
    assert ours['model']['roi_head']['type'] == 'OHEMRoIHead'
    assert random['model']['train_cfg']['rcnn']['sampler'] == \
        bench_random.model.train_cfg.rcnn.sampler.to_dict()
    assert ours['custom_hooks'] == entry['custom_hooks']
    for cfg in (ours, random):
        cfg['model']['train_cfg']['rcnn'].pop('sampler')
        cfg['model']['roi_head'].pop('type')
        cfg.pop('custom_hooks', None)
    assert ours == random


def test_config_paths_do_not_depend_on_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = Config.fromfile(OURS)
    assert cfg.model.roi_head.bbox_head.num_classes == 1
    assert cfg.val_evaluator.type == 'CocoMetric'
    for loader, split in (('train_dataloader', 'train'),
                          ('val_dataloader', 'val'), ('test_dataloader',
                                                      'val')):
        dataset = cfg[loader].dataset
        assert dataset.type == 'XMLDataset'
        assert dataset.metainfo == dict(classes=('raccoon', ))
        assert osp.normpath(dataset.data_root) == RACCOON
        assert osp.isabs(dataset.ann_file)
        # realpath: configs/ links to mmdet_ohem/configs/.
        assert osp.realpath(dataset.ann_file) == osp.join(
            osp.realpath(ROOT), 'data', 'raccoon', f'{split}.txt')


def test_missing_split_or_photos_message(tmp_path):
    cfg = Config.fromfile(OURS, import_custom_modules=False)
    dataset = cfg.train_dataloader.dataset
    dataset.ann_file = str(tmp_path / 'splits' / 'train.txt')
    root = tmp_path / 'raccoon'
    dataset.data_root = f'{root}/'
    with pytest.raises(FileNotFoundError) as error:
        check_dataset_files(cfg, loaders=('train_dataloader', ))
    message = str(error.value)
    assert message.startswith(
        f'Raccoon split not found at {dataset.ann_file}, nor the raccoon '
        f'photos at {root}:')
    assert 'not shipped' in message and 'make demo' in message

    root.mkdir()  # only the split is missing now
    with pytest.raises(FileNotFoundError) as error:
        check_dataset_files(cfg, loaders=('train_dataloader', ))
    assert str(error.value) == (
        f'Raccoon split not found at {dataset.ann_file}. Write it: python '
        f'tools/data/prepare_raccoon.py --root {root} '
        f'--out {tmp_path / "splits"}')


# -- on the photos -----------------------------------------------------------


@needs_raccoon
def test_split_is_deterministic_disjoint_and_complete(splits, tmp_path,
                                                      capsys):
    # The command line, run again, writes the same bytes.
    prepare_raccoon.main(['--root', RACCOON, '--out', str(tmp_path)])
    assert 'train: 160 ids' in capsys.readouterr().out
    for name in ('train.txt', 'val.txt'):
        with open(osp.join(splits, name)) as a, \
                open(tmp_path / name) as b:
            assert a.read() == b.read(), name
    train = read_ids(osp.join(splits, 'train.txt'))
    val = read_ids(osp.join(splits, 'val.txt'))
    photos = {
        osp.splitext(osp.basename(p))[0]
        for p in glob.glob(osp.join(RACCOON, 'images', '*.jpg'))
    }
    assert len(photos) == NUM_PHOTOS
    assert len(train) == len(set(train)) == 160
    assert len(val) == len(set(val)) == 40
    assert not set(train) & set(val)
    assert set(train) | set(val) == photos
    assert val == sorted(val, key=prepare_raccoon.natural_key)

    # Byte-identical photos are on one side.
    digests = {}
    for img_id in photos:
        with open(osp.join(RACCOON, 'images', f'{img_id}.jpg'), 'rb') as f:
            digests.setdefault(hashlib.md5(f.read()).hexdigest(),
                               set()).add(img_id)
    duplicates = [ids for ids in digests.values() if len(ids) > 1]
    assert duplicates  # the folder has a few
    for ids in duplicates:
        assert ids <= set(train) or ids <= set(val), ids

    other = prepare_raccoon.prepare(RACCOON, str(tmp_path / 's1'), seed=1)
    assert other['val'] != val


@needs_raccoon
def test_dataset_matches_the_xml(splits):
    cfg = Config.fromfile(OURS)
    datasets, infos = {}, {}
    for loader, split in (('train_dataloader', 'train'), ('val_dataloader',
                                                          'val')):
        dataset_cfg = cfg[loader].dataset
        dataset_cfg.ann_file = osp.join(splits, f'{split}.txt')
        dataset = datasets[split] = DATASETS.build(dataset_cfg)
        ids = read_ids(dataset_cfg.ann_file)
        assert len(dataset) == len(ids)
        assert dataset.metainfo['classes'] == ('raccoon', )
        split_infos = [dataset.get_data_info(i) for i in range(len(dataset))]
        assert [i['img_id'] for i in split_infos] == ids
        infos.update((i['img_id'], i) for i in split_infos)
    assert len(infos) == NUM_PHOTOS
    for img_id, info in infos.items():
        assert osp.isfile(info['img_path']), img_id
        boxes = np.array([i['bbox'] for i in info['instances']])
        # XMLDataset's VOC convention: 1-based pixels, minus one
        np.testing.assert_array_equal(
            boxes.reshape(-1, 4),
            xml_boxes(img_id) - 1, img_id)
        assert all(i['bbox_label'] == 0 and i['ignore_flag'] == 0
                   for i in info['instances'])
    # the folder's SOURCE.md: 217 boxes
    assert sum(len(i['instances']) for i in infos.values()) == 217

    # Written down from the XML, in case the parsing above goes wrong too.
    assert infos['raccoon-1']['instances'][0]['bbox'] == [80, 87, 521, 407]
    assert (infos['raccoon-1']['width'], infos['raccoon-1']['height']) == (650,
                                                                           417)
    assert [
        len(infos[i]['instances'])
        for i in ('raccoon-1', 'raccoon-12', 'raccoon-119')
    ] == [1, 2, 3]

    # Through the train pipeline: the long side resized to 320 px.
    split = 'train' if 'raccoon-1' in read_ids(osp.join(
        splits, 'train.txt')) else 'val'
    dataset = datasets[split]
    index = next(
        i for i in range(len(dataset))
        if dataset.get_data_info(i)['img_id'] == 'raccoon-1')
    sample = dataset[index]
    assert max(sample['inputs'].shape[1:]) == 320
    sample = sample['data_samples']
    assert sample.img_id == 'raccoon-1'
    assert len(sample.gt_instances) == 1
    scale = 320 / 650
    box = sample.gt_instances.bboxes.tensor[0].numpy()
    if sample.metainfo.get('flip'):  # RandomFlip(0.5): undo it
        box[[0, 2]] = sample.img_shape[1] - box[[2, 0]]
    np.testing.assert_allclose(
        box, np.array([80, 87, 521, 407]) * scale, atol=1)


@needs_raccoon
def test_train_and_eval_end_to_end(splits, tmp_path):
    """``tools/train.py`` with our OHEM on the photos, then COCO box AP.

    4 iterations of 2 photos, 100 proposals and 32 picks per image (so the
    sampler has to choose), then val on 8 photos: ~20-40 s on 2 busy
    cores, mostly starting the process and its imports.
    """
    val_ids = read_ids(osp.join(splits, 'val.txt'))[:8]
    val8 = tmp_path / 'val8.txt'
    val8.write_text('\n'.join(val_ids))
    work_dir = tmp_path / 'work'
    options = [
        f'train_dataloader.dataset.ann_file={splits}/train.txt',
        f'val_dataloader.dataset.ann_file={val8}',
        'train_dataloader.batch_size=2',
        'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'val_dataloader.num_workers=0',
        'val_dataloader.persistent_workers=False',
        'train_cfg.max_iters=4',
        'train_cfg.val_interval=4',
        'model.train_cfg.rpn_proposal.max_per_img=100',
        'model.train_cfg.rcnn.sampler.num=32',
        'model.test_cfg.rpn.max_per_img=100',
        'default_hooks.logger.interval=1',
        'default_hooks.checkpoint.interval=4',
    ]
    # One thread: few cores, shared with other jobs (see
    # test_reliability_training.train_env).
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    out = subprocess.run([
        sys.executable, TRAIN, OURS, '--work-dir',
        str(work_dir), '--cfg-options', *options
    ],
                         cwd=tmp_path,
                         env=env,
                         capture_output=True,
                         text=True,
                         timeout=300)
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-4000:]
    assert (work_dir / 'iter_4.pth').is_file()

    files = glob.glob(str(work_dir / '*' / 'vis_data' / 'scalars.json'))
    assert len(files) == 1, files
    with open(files[0]) as f:
        records = [json.loads(line) for line in f if line.strip()]
    train = [r for r in records if 'loss' in r]
    assert [r['iter'] for r in train] == [1, 2, 3, 4]
    for r in train:
        assert 0 < r['ohem/num_picked'] <= 32
        assert r['ohem/num_picked'] < r['ohem/num_candidates']
        assert np.isfinite(r['loss'])
    metrics = [r for r in records if 'coco/bbox_mAP' in r]
    assert len(metrics) == 1, records
    # 4 iterations from scratch learn next to nothing, so no floor above 0;
    # but the AP must be a real one: COCOeval gives -1 when the val photos'
    # boxes never reached it (no gt of the class), NaN when it broke, and
    # AP over IoU .5:.95 can never exceed AP at IoU .5.
    ap, ap50 = (metrics[0][f'coco/bbox_{k}'] for k in ('mAP', 'mAP_50'))
    assert all(np.isfinite(v) and 0 <= v <= 1 for v in (ap, ap50)), metrics
    assert ap <= ap50, metrics
    # CocoMetric built its ground truth from the val photos' XML
    assert re.search(r'Loading and preparing results', log), log[-2000:]

"""configs/benchmarks/cards and tools/data/prepare_cards.py.

The playing-card photos (``CARDS_ROOT``, else ``../shared/datasets/cards``
beside the repository; read in place, not shipped, so the tests that read
them skip where the folder is absent) are ``<id>.JPG`` or ``<id>.jpg``:
mmdet's ``XMLDataset`` finds only the second. prepare_cards.py writes COCO
files naming each photo's real file, with the boxes ``XMLDataset`` would
load, and the configs read them with mmdet's ``CocoDataset``. The tests
write those files to a temporary folder and point the configs at it, so
the repository's data/ is never touched.
"""
import json
import os
import os.path as osp
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter

import numpy as np
import pytest
from mmdet.registry import DATASETS, MODELS
from mmdet.utils import register_all_modules
from mmengine.config import Config

from helpers import load_tool, require

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CARDS = osp.normpath(
    os.environ.get('CARDS_ROOT')
    or osp.join(ROOT, '..', 'shared', 'datasets', 'cards'))
CONFIG_DIR = osp.join(ROOT, 'configs', 'benchmarks', 'cards')
OURS = osp.join(CONFIG_DIR, 'faster-rcnn_r18-tiny_fpn_ohem_cards.py')
CONFIGS = sorted(
    osp.join(CONFIG_DIR, name) for name in os.listdir(CONFIG_DIR)
    if name.startswith('faster-rcnn_'))
TRAIN = osp.join(ROOT, 'tools', 'train.py')
CLASSES = ('nine', 'ten', 'jack', 'queen', 'king', 'ace')
# SOURCE.md's counts: boxes per class over both splits.
CLASS_COUNTS = dict(nine=115, ten=100, jack=113, queen=106, king=118,
                    ace=118)

prepare_cards = load_tool('data/prepare_cards')


@pytest.fixture(scope='module')
def cards() -> str:
    require(
        osp.isdir(CARDS), f'cards photos not at {CARDS} (set CARDS_ROOT; '
        'not shipped with the project)')
    return CARDS


@pytest.fixture(scope='module')
def coco(cards, tmp_path_factory) -> str:
    """The COCO files written once into a temporary folder."""
    out = str(tmp_path_factory.mktemp('cards_coco'))
    prepare_cards.prepare(cards, out)
    return out


@pytest.fixture
def cards_env(cards, monkeypatch):
    """CARDS_ROOT as a user sets it, for the configs' data_root."""
    monkeypatch.setenv('CARDS_ROOT', cards + '/')


def load(out: str, split: str) -> dict:
    with open(osp.join(out, f'instances_{split}.json')) as f:
        return json.load(f)


def cards_cfg(path: str, coco: str) -> Config:
    """A cards config reading the COCO files of ``coco``."""
    cfg = Config.fromfile(path)
    cfg.train_dataloader.dataset.ann_file = osp.join(
        coco, 'instances_train.json')
    cfg.val_dataloader.dataset.ann_file = osp.join(coco,
                                                   'instances_test.json')
    return cfg


def write_voc(path, filename: str, objects: list, size=(40, 30)) -> None:
    """A minimal VOC XML file: ``objects`` are (name, xmin, ymin, xmax,
    ymax)."""
    objs = ''.join(
        f'<object><name>{n}</name><difficult>0</difficult><bndbox>'
        f'<xmin>{a}</xmin><ymin>{b}</ymin><xmax>{c}</xmax><ymax>{d}</ymax>'
        '</bndbox></object>' for n, a, b, c, d in objects)
    path.write_text(
        f'<annotation><filename>{filename}</filename>'
        f'<path>C:\\cards\\{filename}</path><size><width>{size[0]}</width>'
        f'<height>{size[1]}</height><depth>3</depth></size>{objs}'
        '</annotation>')


def fake_set(tmp_path, objects_b=(('king', 5, 6, 20, 25), )) -> str:
    """Two ids: ``a`` (a ``.JPG``, in train) and ``b`` (a ``.jpg``, in
    test); the images' bytes are never read."""
    root = tmp_path / 'fake'
    for sub in ('images', 'annotations', 'splits'):
        (root / sub).mkdir(parents=True)
    (root / 'images' / 'a.JPG').write_bytes(b'')
    (root / 'images' / 'b.jpg').write_bytes(b'')
    (root / 'images' / 'notes.txt').write_text('not an image')
    write_voc(root / 'annotations' / 'a.xml', 'a.JPG',
              [('nine', 1, 1, 10, 12), ('ace', 3.7, 2, 30, 29)])
    write_voc(root / 'annotations' / 'b.xml', 'b.jpg', list(objects_b))
    (root / 'splits' / 'train.txt').write_text('a\n')
    (root / 'splits' / 'test.txt').write_text('b\n')
    return str(root)


# -- without the photos ------------------------------------------------------


def test_voc_box_is_what_xmldataset_loads():
    """mmdet 3.x's XMLDataset: int(float(v)) - 1 on each corner."""
    box = ET.fromstring('<bndbox><xmin>97</xmin><ymin>136</ymin>'
                        '<xmax>275.6</xmax><ymax>368</ymax></bndbox>')
    assert prepare_cards.voc_box(box) == [96, 135, 274 - 96, 367 - 135]


def test_find_image_takes_the_file_on_disk():
    assert prepare_cards.find_image('a', ['a.JPG'], 'a.jpg') == 'a.JPG'
    assert prepare_cards.find_image('a', ['a.JPG', 'a.jpg'],
                                    'a.jpg') == 'a.jpg'
    with pytest.raises(FileNotFoundError, match='No image images/a.jpg'):
        prepare_cards.find_image('a', [], 'a.jpg')
    with pytest.raises(FileNotFoundError, match='Several images for a'):
        prepare_cards.find_image('a', ['a.JPG', 'a.jpg'], None)


def test_prepare_writes_mixed_case_names_and_voc_boxes(tmp_path):
    out = tmp_path / 'out'
    result = prepare_cards.prepare(fake_set(tmp_path), str(out))
    assert {k: (v['images'], v['boxes'])
            for k, v in result.items()} == dict(train=(1, 2), test=(1, 1))
    train, test = load(str(out), 'train'), load(str(out), 'test')
    assert [i['file_name'] for i in train['images']] == ['a.JPG']
    assert [i['file_name'] for i in test['images']] == ['b.jpg']
    assert [(i['id'], i['width'], i['height'])
            for i in train['images'] + test['images']] == [(1, 40, 30),
                                                           (2, 40, 30)]
    assert [c['name'] for c in train['categories']] == list(CLASSES)
    assert [(a['id'], a['image_id'], a['category_id'], a['bbox'], a['area'])
            for a in train['annotations'] + test['annotations']] == [
                (1, 1, 1, [0, 0, 9, 11], 99),
                (2, 1, 6, [2, 1, 27, 27], 27 * 27),
                (3, 2, 5, [4, 5, 15, 19], 15 * 19)]


@pytest.mark.parametrize('objects, message', [
    ((('joker', 1, 1, 10, 10), ), "class 'joker' is not one of"),
    ((('ten', 5, 5, 5, 10), ), 'box of no area'),
])
def test_prepare_refuses_what_mmdet_would_drop(tmp_path, objects, message):
    out = tmp_path / 'out'
    with pytest.raises(ValueError, match=message):
        prepare_cards.prepare(fake_set(tmp_path, objects), str(out))
    assert not out.exists()


def test_prepare_without_photos_fails_clearly(tmp_path, capsys):
    out = tmp_path / 'out'
    with pytest.raises(SystemExit) as exit_info:
        prepare_cards.main(
            ['--root', str(tmp_path / 'none'), '--out', str(out)])
    assert exit_info.value.code == 1
    assert 'not shipped with mmdet-ohem' in capsys.readouterr().err
    assert not out.exists()


def test_config_reads_cards_root_and_the_repository_data(monkeypatch,
                                                         tmp_path):
    """The photos from CARDS_ROOT, the COCO files from the repository's
    data/cards/ (where prepare_cards.py writes them), whatever the cwd."""
    monkeypatch.setenv('CARDS_ROOT', '/somewhere/cards/')
    monkeypatch.chdir(tmp_path)
    cfg = Config.fromfile(OURS)
    data = osp.join(ROOT, 'data', 'cards')
    assert prepare_cards.DEFAULT_OUT == data
    assert cfg.model.roi_head.bbox_head.num_classes == len(CLASSES)
    for loader, split in (('train_dataloader', 'train'),
                          ('val_dataloader', 'test'),
                          ('test_dataloader', 'test')):
        dataset = cfg[loader].dataset
        assert dataset.type == 'CocoDataset'
        assert dataset.data_root == '/somewhere/cards/'
        assert dataset.data_prefix == dict(img='images/')
        assert dataset.metainfo == dict(classes=CLASSES)
        assert osp.realpath(dataset.ann_file) == osp.join(
            data, f'instances_{split}.json')
    for evaluator in (cfg.val_evaluator, cfg.test_evaluator):
        assert evaluator.type == 'CocoMetric'
        assert osp.realpath(evaluator.ann_file) == osp.join(
            data, 'instances_test.json')


# -- on the photos ---------------------------------------------------------


def test_prepare_counts_and_files(cards, coco):
    train, test = load(coco, 'train'), load(coco, 'test')
    assert (len(train['images']), len(test['images'])) == (296, 67)
    assert len(train['annotations']) + len(test['annotations']) == 670
    for split, data in (('train', train), ('test', test)):
        with open(osp.join(cards, 'splits', f'{split}.txt')) as f:
            ids = set(f.read().split())
        assert {osp.splitext(i['file_name'])[0]
                for i in data['images']} == ids
    images = train['images'] + test['images']
    names = [i['file_name'] for i in images]
    assert all(osp.isfile(osp.join(cards, 'images', n)) for n in names)
    extensions = Counter(osp.splitext(n)[1] for n in names)
    assert extensions == {'.JPG': 311, '.jpg': 52}
    annotations = train['annotations'] + test['annotations']
    assert len({i['id'] for i in images}) == len(images)
    assert len({a['id'] for a in annotations}) == len(annotations)
    counts = Counter(CLASSES[a['category_id'] - 1] for a in annotations)
    assert counts == CLASS_COUNTS
    # Every box lies inside its image and has an area (CocoDataset would
    # drop it without a word otherwise).
    sizes = {i['id']: (i['width'], i['height']) for i in images}
    for a in annotations:
        x, y, w, h = a['bbox']
        width, height = sizes[a['image_id']]
        assert x >= 0 and y >= 0 and w >= 1 and h >= 1, a
        assert x + w <= width and y + h <= height, a


def test_prepare_is_deterministic_and_idempotent(cards, coco, tmp_path):
    before = {split: os.stat(osp.join(coco, f'instances_{split}.json'))
              for split in ('train', 'test')}
    prepare_cards.prepare(cards, coco)
    other = tmp_path / 'again'
    prepare_cards.prepare(cards, str(other))
    for split in ('train', 'test'):
        path = osp.join(coco, f'instances_{split}.json')
        # Unchanged content is not rewritten.
        assert os.stat(path).st_mtime_ns == before[split].st_mtime_ns
        with open(path, 'rb') as f, open(
                other / f'instances_{split}.json', 'rb') as g:
            assert f.read() == g.read()


@pytest.mark.usefixtures('cards_env')
def test_boxes_are_the_ones_xmldataset_loads(cards, coco, tmp_path):
    """On the photos XMLDataset can open (``.jpg``), CocoDataset over our
    files gives the model the same boxes and labels."""
    register_all_modules()
    cfg = cards_cfg(OURS, coco)
    loaded = {}
    for loader in ('train_dataloader', 'val_dataloader'):
        dataset = DATASETS.build(cfg[loader].dataset)
        for i in range(len(dataset)):
            info = dataset.get_data_info(i)
            loaded[osp.basename(info['img_path'])] = info['instances']
    lower = sorted(n for n in loaded if n.endswith('.jpg'))
    assert len(lower) == 52
    ids = tmp_path / 'lower.txt'
    ids.write_text(''.join(osp.splitext(n)[0] + '\n' for n in lower))
    voc = DATASETS.build(
        dict(type='XMLDataset', data_root=cards + '/', ann_file=str(ids),
             data_prefix=dict(sub_data_root=''), img_subdir='images',
             ann_subdir='annotations', metainfo=dict(classes=CLASSES),
             test_mode=True, pipeline=[]))
    assert len(voc) == len(lower)
    for i in range(len(voc)):
        info = voc.get_data_info(i)
        ours = loaded[osp.basename(info['img_path'])]
        theirs = info['instances']
        assert [o['bbox_label'] for o in ours] == [
            t['bbox_label'] for t in theirs]
        np.testing.assert_array_equal([o['bbox'] for o in ours],
                                      [t['bbox'] for t in theirs])


@pytest.mark.usefixtures('cards_env')
def test_configs_build_and_the_train_set_loads(cards, coco):
    register_all_modules()
    assert len(CONFIGS) == 9  # six variants, two random shares, the warm-up
    for path in CONFIGS:
        cfg = Config.fromfile(path)
        model = MODELS.build(cfg.model)
        assert model.roi_head.bbox_head.num_classes == len(CLASSES), path
        assert osp.normpath(cfg.train_dataloader.dataset.data_root) == cards
    cfg = cards_cfg(OURS, coco)
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    assert len(dataset) == 296
    assert dataset.metainfo['classes'] == CLASSES
    # An item through the pipeline: a .JPG photo, resized to 320 px, with
    # its XML's labels.
    index = next(i for i in range(len(dataset))
                 if dataset.get_data_info(i)['img_path'].endswith('.JPG'))
    item = dataset[index]
    sample = item['data_samples']
    assert item['inputs'].shape[0] == 3
    assert max(item['inputs'].shape[1:]) == 320
    img_id = osp.splitext(osp.basename(sample.img_path))[0]
    names = [o.findtext('name') for o in ET.parse(
        osp.join(cards, 'annotations', f'{img_id}.xml')).iter('object')]
    assert sorted(sample.gt_instances.labels.tolist()) == sorted(
        CLASSES.index(n) for n in names)


def test_check_data_then_a_short_training(cards, coco, tmp_path):
    """``tools/train.py --check-data`` on the OHEM config passes (annotations
    read, every photo decoded), and two iterations and the evaluation on
    the test split run through."""
    ann = {
        'train': osp.join(coco, 'instances_train.json'),
        'test': osp.join(coco, 'instances_test.json')
    }
    options = [
        f'train_dataloader.dataset.ann_file={ann["train"]}',
        f'val_dataloader.dataset.ann_file={ann["test"]}',
        f'test_dataloader.dataset.ann_file={ann["test"]}',
        f'val_evaluator.ann_file={ann["test"]}',
        f'test_evaluator.ann_file={ann["test"]}',
        'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'train_cfg.max_iters=2', 'train_cfg.val_interval=2',
        'default_hooks.logger.interval=1',
        'default_hooks.checkpoint.interval=100',
    ]
    env = dict(os.environ, OMP_NUM_THREADS='1', CARDS_ROOT=cards + '/')
    out = subprocess.run(
        [sys.executable, TRAIN, OURS, '--check-data', '--work-dir',
         str(tmp_path / 'work'), '--cfg-options', *options],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-4000:]
    assert '296 images, 527 boxes, 0 error(s)' in log, log[-4000:]
    assert '67 images, 143 boxes, 0 error(s)' in log, log[-4000:]
    assert 'every image decodes' in log, log[-4000:]
    assert 'coco/bbox_mAP:' in log, log[-4000:]


def test_missing_cards_annotations_name_the_prepare_step(tmp_path):
    from mmdet_ohem.utils.data_check import missing_dataset_message
    path = str(tmp_path / 'data' / 'cards' / 'instances_train.json')
    message = missing_dataset_message(path, 'train_dataloader.dataset', None)
    assert 'tools/data/prepare_cards.py' in message
    assert str(tmp_path / 'data' / 'cards') in message

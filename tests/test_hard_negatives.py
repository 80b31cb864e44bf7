"""Tests of the synthetic hard-negative dataset generator."""
import importlib.util
import json
import os

import numpy as np
import pytest

from mmdet_ohem.benchmark import hard_negatives as hn

SIZE = 128
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope='module')
def dataset(tmp_path_factory):
    out = str(tmp_path_factory.mktemp('hard_negatives'))
    return hn.generate(out, n_train=60, n_val=10, img_size=SIZE, seed=0)


def _load(result, split):
    with open(result[split]['ann_file']) as f:
        return json.load(f)


def _imread(path):
    """Reads an image as RGB, like the generator wrote it."""
    if hn.cv2 is not None:
        return hn.cv2.imread(path)[..., ::-1]
    from PIL import Image
    return np.asarray(Image.open(path).convert('RGB'))


def _poly_mask(flat, shape):
    """Pixel centres inside a convex polygon ``[x1, y1, x2, y2, ...]``."""
    ys, xs = np.mgrid[0:shape[0], 0:shape[1]] + 0.5
    return hn._convex(xs, ys, np.asarray(flat, float).reshape(-1, 2))


def test_draw_sample_is_deterministic():
    a = hn.draw_sample(np.random.default_rng(7), 256)
    b = hn.draw_sample(np.random.default_rng(7), 256)
    c = hn.draw_sample(np.random.default_rng(8), 256)
    assert a[0].dtype == np.uint8 and a[0].shape == (256, 256, 3)
    np.testing.assert_array_equal(a[0], b[0])
    assert a[1:] == b[1:]
    assert not np.array_equal(a[0], c[0])


def test_generate_is_deterministic(dataset, tmp_path):
    same = hn.generate(
        str(tmp_path / 'a'), n_train=60, n_val=10, img_size=SIZE, seed=0)
    other = hn.generate(
        str(tmp_path / 'b'), n_train=60, n_val=10, img_size=SIZE, seed=1)
    for split in ('train', 'val'):
        with open(dataset[split]['ann_file'], 'rb') as f:
            ref = f.read()
        with open(same[split]['ann_file'], 'rb') as f:
            assert f.read() == ref
        with open(other[split]['ann_file'], 'rb') as f:
            assert f.read() != ref
        names = sorted(os.listdir(dataset[split]['img_dir']))
        assert names == sorted(os.listdir(same[split]['img_dir']))
        for name in names:
            img = _imread(os.path.join(dataset[split]['img_dir'], name))
            np.testing.assert_array_equal(
                img, _imread(os.path.join(same[split]['img_dir'], name)))
        first = os.path.join(other[split]['img_dir'], names[0])
        assert not np.array_equal(
            _imread(first),
            _imread(os.path.join(same[split]['img_dir'], names[0])))


def test_images_on_disk_match_draw_sample(dataset):
    img = _imread(os.path.join(dataset['val']['img_dir'], '000003.png'))
    ref, anns, negs = hn.draw_sample(np.random.default_rng([0, 1, 2]), SIZE)
    np.testing.assert_array_equal(img, ref)
    coco = _load(dataset, 'val')
    assert coco['images'][2]['hard_negatives'] == negs
    on_disk = [a['bbox'] for a in coco['annotations'] if a['image_id'] == 3]
    assert on_disk == [a['bbox'] for a in anns]


def test_val_does_not_depend_on_n_train(tmp_path):
    a = hn.generate(str(tmp_path / 'a'), n_train=3, n_val=4, img_size=64)
    b = hn.generate(str(tmp_path / 'b'), n_train=6, n_val=4, img_size=64)
    for path in (a['val']['ann_file'], b['val']['ann_file']):
        with open(path, 'rb') as f:
            assert f.read() == open(a['val']['ann_file'], 'rb').read()
    train_a, train_b = _load(a, 'train'), _load(b, 'train')
    assert train_b['images'][:3] == train_a['images']
    assert len(train_b['images']) == 6


def test_annotations_are_valid(dataset):
    for split, n in (('train', 60), ('val', 10)):
        coco = _load(dataset, split)
        assert [c['name'] for c in coco['categories']] == list(hn.CLASSES)
        assert [c['id'] for c in coco['categories']] == [1, 2, 3]
        images = {im['id']: im for im in coco['images']}
        assert len(images) == n == dataset[split]['num_images']
        for im in coco['images']:
            assert (im['width'], im['height']) == (SIZE, SIZE)
            assert os.path.isfile(
                os.path.join(dataset[split]['img_dir'], im['file_name']))
        ids = [a['id'] for a in coco['annotations']]
        assert len(ids) == len(set(ids)) == dataset[split]['num_annotations']
        for ann in coco['annotations']:
            assert ann['image_id'] in images
            assert ann['category_id'] in (1, 2, 3)
            assert ann['iscrowd'] == 0
            x, y, w, h = ann['bbox']
            assert x >= 0 and y >= 0 and x + w <= SIZE and y + h <= SIZE
            assert hn.MIN_SIZE - 1 <= max(w, h) <= min(101, 0.4 * SIZE + 2)
            assert min(w, h) >= 8
            assert ann['area'] == pytest.approx(w * h)
            assert len(ann['segmentation']) == 1
            poly = np.array(ann['segmentation'][0]).reshape(-1, 2)
            expected = {1: 24, 2: 4, 3: 3}[ann['category_id']]
            assert len(poly) == expected
            assert np.all(poly >= [x, y]) and np.all(poly <= [x + w, y + h])
            # the polygon spans its box (not a tiny shape in a big box)
            span = poly.max(0) - poly.min(0)
            assert np.all(span >= np.array([w, h]) - 1.5)


def test_shapes_are_drawn_where_annotated():
    fractions = []
    for seed in range(25):
        img, anns, _ = hn.draw_sample(np.random.default_rng(seed), 256)
        for ann in anns:
            inside = _poly_mask(ann['segmentation'][0], img.shape[:2])
            fill = {1: 0.7, 2: 0.9, 3: 0.3}[ann['category_id']]
            assert inside.sum() >= fill * ann['area']
            err = np.abs(img.astype(int) - ann['color']).max(-1)
            fractions.append(np.mean(err[inside] <= 12))
    assert len(fractions) > 40
    # occlusion may hide at most MAX_COVER of a shape, edges a little more
    assert min(fractions) >= 0.6
    assert np.median(fractions) >= 0.95


def test_proportions(dataset):
    coco = _load(dataset, 'train')
    n = len(coco['images'])
    per_image = np.bincount([a['image_id'] for a in coco['annotations']],
                            minlength=n + 1)[1:]
    negs = np.array([len(im['hard_negatives']) for im in coco['images']])
    assert 1 / n <= np.mean(per_image == 0) <= 0.25
    assert per_image.max() <= hn.MAX_OBJECTS
    assert 2.0 <= per_image.mean() <= 4.5
    assert 0.3 <= np.mean(negs > 0) <= 0.7
    assert negs.max() <= 3
    cats = {a['category_id'] for a in coco['annotations']}
    assert cats == {1, 2, 3}
    kinds = {neg[4] for im in coco['images'] for neg in im['hard_negatives']}
    assert len(kinds) >= 4


def test_distractors_are_not_annotated(dataset):
    for split in ('train', 'val'):
        coco = _load(dataset, split)
        for im in coco['images']:
            boxes = np.array([
                a['bbox'] for a in coco['annotations']
                if a['image_id'] == im['id']
            ]).reshape(-1, 4)
            for x, y, w, h, kind in im['hard_negatives']:
                assert kind in hn.DISTRACTORS and kind not in hn.CLASSES
                assert x >= 0 and y >= 0 and x + w <= SIZE and y + h <= SIZE
                assert min(w, h) >= 6
                if len(boxes):
                    iou = hn._box_iou(np.array([x, y, w, h]), boxes)
                    assert iou.max() <= hn.MAX_IOU + 1e-9


def test_generate_skips_when_up_to_date(tmp_path):
    out = str(tmp_path / 'ds')
    first = hn.generate(out, n_train=4, n_val=2, img_size=64)
    assert not first['skipped']
    ann = first['train']['ann_file']
    os.utime(ann, (1, 1))
    again = hn.generate(out, n_train=4, n_val=2, img_size=64)
    assert again['skipped'] and os.path.getmtime(ann) == 1
    assert again['train'] == first['train']
    forced = hn.generate(out, n_train=4, n_val=2, img_size=64, force=True)
    assert not forced['skipped'] and os.path.getmtime(ann) != 1
    smaller = hn.generate(out, n_train=2, n_val=2, img_size=64)
    assert not smaller['skipped']
    assert sorted(os.listdir(
        smaller['train']['img_dir'])) == ['000001.png', '000002.png']
    with open(os.path.join(out, 'meta.json')) as f:
        assert json.load(f)['params']['n_train'] == 2


def test_pycocotools_loads_annotations(dataset):
    coco_mod = pytest.importorskip('pycocotools.coco')
    coco = coco_mod.COCO(dataset['train']['ann_file'])
    assert sorted(coco.getCatIds()) == [1, 2, 3]
    assert len(coco.getImgIds()) == 60
    for ann in coco.loadAnns(coco.getAnnIds(imgIds=[1, 2, 3, 4, 5])):
        mask = coco.annToMask(ann)
        x, y, w, h = ann['bbox']
        rows, cols = np.nonzero(mask)
        assert mask.sum() >= 0.4 * w * h
        assert rows.min() >= y - 1 and rows.max() <= y + h
        assert cols.min() >= x - 1 and cols.max() <= x + w


def test_cli(tmp_path, capsys):
    path = os.path.join(ROOT, 'tools', 'data', 'generate_hard_negatives.py')
    spec = importlib.util.spec_from_file_location('gen_cli', path)
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    argv = [
        '--out',
        str(tmp_path), '--n-train', '2', '--n-val', '1', '--img-size', '64',
        '--seed', '3'
    ]
    result = cli.main(argv)
    assert 'wrote' in capsys.readouterr().out
    assert result['train']['num_images'] == 2
    assert os.path.isfile(str(tmp_path / 'annotations' / 'instances_val.json'))
    cli.main(argv)
    assert 'up to date' in capsys.readouterr().out
    cli.main(argv + ['--force'])
    assert 'wrote' in capsys.readouterr().out

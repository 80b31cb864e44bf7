"""--check-data: annotation defects named with what mmdet does with them.

Each case writes a tiny COCO json or VOC set into ``tmp_path``; where the
check states mmdet's reaction (dropped, kept, crash), mmdet's own dataset
is built on the same files to confirm it.
"""
import json
import math
import os
import os.path as osp
import subprocess
import sys
import time

import numpy as np
import pytest
from mmdet.datasets import CocoDataset, XMLDataset
from mmdet.utils import register_all_modules
from mmengine.config import Config
from PIL import Image

from mmdet_ohem.utils import (check_annotations, check_coco, check_voc,
                              run_data_check)
from helpers import require

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CLASSES = ('cat', 'dog')
CATEGORIES = [dict(id=1, name='cat'), dict(id=2, name='dog')]
FILTER_BOXES = dict(type='FilterAnnotations', min_gt_bbox_wh=(1, 1))


def jpeg(path, size=(64, 48)):
    """A small JPEG that decodes (``size``: width, height)."""
    os.makedirs(osp.dirname(path), exist_ok=True)
    pixels = np.full((size[1], size[0], 3), 128, dtype=np.uint8)
    Image.fromarray(pixels).save(path, 'JPEG')


def image(img_id, name=None, width=64, height=48):
    return dict(id=img_id, file_name=name or f'{img_id}.jpg', width=width,
                height=height)


def ann(ann_id, img_id, bbox, cat=1, **extra):
    area = bbox[2] * bbox[3] if all(map(math.isfinite, bbox)) else 1.0
    return dict(id=ann_id, image_id=img_id, bbox=bbox, category_id=cat,
                area=extra.pop('area', area), iscrowd=0, **extra)


def write_coco(root, images, anns, categories=CATEGORIES, write_images=True):
    """``root/ann.json`` and ``root/img/<file_name>`` (decodable)."""
    root.mkdir(exist_ok=True)
    path = root / 'ann.json'
    # allow_nan: NaN/Infinity as Python's json (and pycocotools) read them.
    path.write_text(json.dumps(dict(images=images, annotations=anns,
                                    categories=categories)))
    for img in images if write_images else []:
        jpeg(str(root / 'img' / img['file_name']),
             (img['width'], img['height']))
    return str(path)


def coco_cfg(root, loader='train_dataloader', **extra):
    dataset = dict(type='CocoDataset', data_root=f'{root}/',
                   ann_file='ann.json', data_prefix=dict(img='img/'),
                   metainfo=dict(classes=CLASSES),
                   filter_cfg=dict(filter_empty_gt=True, min_size=0),
                   pipeline=[dict(type='LoadImageFromFile'),
                             dict(type='LoadAnnotations', with_bbox=True),
                             dict(type='Resize', scale=(64, 64),
                                  keep_ratio=True)], **extra)
    return {loader: dict(batch_size=1, num_workers=0, dataset=dataset)}


def mmdet_boxes(ann_file, root, classes=CLASSES):
    """The boxes mmdet's CocoDataset keeps, per image id."""
    dataset = CocoDataset(ann_file=ann_file, data_prefix=dict(img=root),
                          metainfo=dict(classes=classes), pipeline=[],
                          serialize_data=False)
    return {d['img_id']: [i['bbox'] for i in d['instances']]
            for d in dataset.data_list}


def by_where(findings):
    return {f.where: f for f in findings}


@pytest.fixture(autouse=True)
def mmdet_scope():
    register_all_modules()


def test_negative_width_box_is_named_dropped_and_mmdet_drops_it(tmp_path):
    ann_file = write_coco(tmp_path, [image(1)], [
        ann(7, 1, [40, 10, -25, 20]),
        ann(8, 1, [5, 5, 10, 10])])
    findings, images, boxes = check_coco(ann_file, str(tmp_path / 'img'),
                                         CLASSES)
    assert (images, boxes) == (1, 2)
    assert len(findings) == 1
    bad = findings[0]
    assert bad.level == 'error' and not bad.crash
    assert bad.file == ann_file
    assert bad.where == 'annotation id 7 (image id 1)'
    assert 'bbox [40, 10, -25, 20]' in bad.problem
    assert 'non-positive size (w=-25, h=20)' in bad.problem
    assert bad.mmdet.startswith('dropped silently')
    # mmdet keeps only annotation 8, without a word.
    assert mmdet_boxes(ann_file, str(tmp_path / 'img')) == {
        1: [[5, 5, 15, 15]]}


def test_nan_outside_and_unknown_category_boxes(tmp_path):
    anns = [
        ann(1, 1, [float('nan'), 10, 10, 10]),
        ann(2, 1, [100, 100, 10, 10]),  # entirely outside 64x48
        ann(3, 1, [50, 40, 20, 20]),  # partly outside: kept, clipped
        ann(4, 1, [5, 5, 10, 10], cat=9),  # no such category
        ann(5, 1, [5, 5, 10, 10], cat=3),  # a category not in the classes
        ann(6, 1, [1, 1, 0.5, 8]),  # under 1 px wide
        ann(7, 1, [5, 5, float('inf'), 10]),  # kept, with an inf
        ann(8, 1, [5, 5, 10, 10]),
    ]
    ann_file = write_coco(tmp_path, [image(1)], anns,
                          CATEGORIES + [dict(id=3, name='bird')])
    pipeline = coco_cfg(tmp_path)['train_dataloader']['dataset']['pipeline']
    findings = by_where(check_coco(ann_file, str(tmp_path / 'img'), CLASSES,
                                   pipeline=pipeline)[0])
    where = 'annotation id {} (image id 1)'.format
    assert 'non-finite coordinate' in findings[where(1)].problem
    assert findings[where(1)].mmdet.startswith('dropped silently')
    assert 'entirely outside the 64x48 image' in findings[where(2)].problem
    assert findings[where(2)].level == 'error'
    assert findings[where(3)].level == 'warning'
    assert findings[where(3)].mmdet == 'kept; Resize clips it to the image'
    assert 'unknown category id 9' in findings[where(4)].problem
    assert findings[where(4)].mmdet.startswith('dropped silently')
    assert "category 'bird' (id 3) not in the config's classes" in \
        findings[where(5)].problem
    assert 'under 1 px' in findings[where(6)].problem
    assert findings[where(6)].level == 'error'
    assert findings[where(7)].level == 'error'
    assert findings[where(7)].mmdet.startswith('kept: an inf coordinate')
    assert where(8) not in findings
    dropped = {1, 2, 4, 5, 6}
    assert all(findings[where(i)].mmdet.startswith('dropped')
               for i in dropped)
    # mmdet keeps exactly the others (3, 7 and 8), in order.
    kept = mmdet_boxes(ann_file, str(tmp_path / 'img'))[1]
    assert [b[0] for b in kept] == [50, 5, 5]
    assert kept[1][2] == float('inf')


def test_duplicate_ids_and_missing_image(tmp_path):
    images = [image(1), image(2, 'b.jpg'), image(2, 'c.jpg'), image(3)]
    anns = [ann(5, 1, [1, 1, 10, 10]), ann(5, 2, [1, 1, 10, 10]),
            ann(6, 3, [1, 1, 10, 10])]
    ann_file = write_coco(tmp_path, images, anns)
    os.remove(tmp_path / 'img' / '3.jpg')
    findings = by_where(check_coco(ann_file, str(tmp_path / 'img'),
                                   CLASSES)[0])
    dup = findings['annotation id 5']
    assert dup.crash and dup.level == 'error'
    assert 'used 2 times' in dup.problem
    assert 'are not unique' in dup.mmdet
    with pytest.raises(AssertionError, match='are not unique'):
        mmdet_boxes(ann_file, str(tmp_path / 'img'))
    img = findings['image id 2']
    assert img.level == 'error'
    assert "'b.jpg', 'c.jpg'" in img.problem
    assert "keeps the last entry ('c.jpg')" in img.mmdet
    missing = findings['image id 3']
    assert missing.crash and f"{tmp_path / 'img' / '3.jpg'} is missing" in \
        missing.problem
    assert 'FileNotFoundError' in missing.mmdet


def test_a_config_class_without_category_shifts_labels(tmp_path):
    ann_file = write_coco(tmp_path, [image(1)], [ann(1, 1, [1, 1, 9, 9], 2)],
                          [dict(id=2, name='dog')])
    findings = check_coco(ann_file, str(tmp_path / 'img'), CLASSES)[0]
    assert [(f.level, f.where) for f in findings] == [('error',
                                                       "class 'cat'")]
    assert 'labels after it no longer match' in findings[0].mmdet
    # mmdet indeed labels the dog 0, the config's 'cat'.
    dataset = CocoDataset(ann_file=ann_file,
                          data_prefix=dict(img=str(tmp_path)),
                          metainfo=dict(classes=CLASSES), pipeline=[],
                          serialize_data=False)
    assert dataset.data_list[0]['instances'][0]['bbox_label'] == 0


def test_a_clean_coco_set_passes(tmp_path, capsys):
    write_coco(tmp_path, [image(1), image(2)],
               [ann(1, 1, [1, 1, 10, 10]), ann(2, 2, [3, 4, 20, 30], 2)])
    cfg = Config(coco_cfg(tmp_path))
    reports, skipped = check_annotations(cfg)
    assert skipped == []
    assert [(r.images, r.boxes, r.findings) for r in reports] == [(2, 2, [])]
    assert run_data_check(cfg, stream=sys.stdout) == 0
    out = capsys.readouterr().out
    assert '0 error(s)' in out and 'every image decodes' in out


def voc_xml(objects, size=(64, 48)):
    """A VOC XML; ``objects``: (name, (xmin, ymin, xmax, ymax), difficult)."""
    size_xml = (f'<size><width>{size[0]}</width><height>{size[1]}</height>'
                '<depth>3</depth></size>' if size else '')
    objs = ''.join(
        f'<object><name>{name}</name><difficult>{int(difficult)}</difficult>'
        '<bndbox>' + ''.join(f'<{k}>{v}</{k}>' for k, v in zip(
            ('xmin', 'ymin', 'xmax', 'ymax'), box)) + '</bndbox></object>'
        for name, box, difficult in objects)
    return f'<annotation>{size_xml}{objs}</annotation>'


def write_voc(root, xmls, images=None):
    """``root/Annotations/<id>.xml``, ``root/JPEGImages/<id>.jpg`` and the
    id list ``root/ids.txt``."""
    (root / 'Annotations').mkdir(parents=True)
    for img_id, xml in xmls.items():
        (root / 'Annotations' / f'{img_id}.xml').write_text(xml)
    for name in images if images is not None else [f'{i}.jpg' for i in xmls]:
        jpeg(str(root / 'JPEGImages' / name))
    (root / 'ids.txt').write_text(''.join(f'{i}\n' for i in xmls))
    return str(root / 'ids.txt')


def test_voc_inverted_box_and_what_the_pipeline_does(tmp_path):
    ids = write_voc(tmp_path, {
        'a': voc_xml([('cat', (30, 10, 20, 30), 0),  # x2 < x1
                      ('cat', (2, 2, 20, 20), 0)]),
        'b': voc_xml([('dog', (5, 5, 5, 5), 0)]),  # zero area, alone
        'c': voc_xml([('dog', (5, 5, 2, 9), 1)]),  # difficult: ignored
    })
    root = str(tmp_path)
    with_filter = check_voc(ids, root, CLASSES, pipeline=[FILTER_BOXES])[0]
    a_xml = osp.join(root, 'Annotations', 'a.xml')
    inverted = [f for f in with_filter if f.file == a_xml]
    assert [(f.level, f.where) for f in inverted] == [('error', 'object[0]')]
    assert 'cat box [29, 9, 19, 29]' in inverted[0].problem
    assert 'non-positive size (w=-10, h=20)' in inverted[0].problem
    assert "dropped by the pipeline's FilterAnnotations" in inverted[0].mmdet
    alone = by_where(f for f in with_filter if f.file.endswith('b.xml'))
    assert 'replaced by another image' in alone['object[0]'].mmdet
    difficult = [f for f in with_filter if f.file.endswith('c.xml')]
    assert {f.level for f in difficult} == {'warning'}
    assert 'kept as ignored' in difficult[0].mmdet

    plain = check_voc(ids, root, CLASSES, pipeline=[])[0]
    assert 'reaches the model' in by_where(
        f for f in plain if f.file == a_xml)['object[0]'].mmdet
    # XMLDataset keeps the inverted box as the check says.
    dataset = XMLDataset(ann_file=ids, data_root=root,
                         data_prefix=dict(sub_data_root=''),
                         metainfo=dict(classes=CLASSES), pipeline=[],
                         serialize_data=False)
    assert dataset.data_list[0]['instances'][0]['bbox'] == [29, 9, 19, 29]


def test_voc_nan_unknown_class_missing_files(tmp_path):
    ids = write_voc(tmp_path, {
        'a': voc_xml([('cat', ('nan', 1, 9, 9), 0)]),
        'b': voc_xml([('Cat', (2, 2, 9, 9), 0), ('dog', (2, 2, 9, 9), 0)]),
        'c': voc_xml([('dog', (0, 2, 70, 9), 0)]),  # partly outside
        'd': voc_xml([('dog', (2, 2, 9, 9), 0)]),
    }, images=['a.jpg', 'b.jpg', 'c.jpg', 'd.JPG'])
    with open(ids, 'a') as f:
        f.write('b\ne\n')  # b twice; e has no XML
    findings, images, boxes = check_voc(ids, str(tmp_path), CLASSES)
    xml = str(tmp_path / 'Annotations') + '/{}.xml'
    found = {(f.file, f.where): f for f in findings}
    nan = found[(xml.format('a'), 'object[0]')]
    assert nan.crash and 'ValueError' in nan.problem
    cls = found[(xml.format('b'), 'object[0]')]
    assert "class 'Cat' not in the config's classes" in cls.problem
    assert cls.mmdet.startswith('dropped silently')
    assert found[(xml.format('c'), 'object[0]')].level == 'warning'
    missing = found[(xml.format('d'), '')]
    assert missing.crash
    assert '(d.JPG is there: XMLDataset reads <id>.jpg only)' in \
        missing.problem
    assert found[(xml.format('e'), "id 'e'")].crash
    assert found[(ids, "id 'b'")].level == 'warning'
    assert (images, boxes) == (5, 5)
    with pytest.raises(ValueError, match='NaN'):
        XMLDataset(ann_file=ids, data_root=str(tmp_path),
                   data_prefix=dict(sub_data_root=''),
                   metainfo=dict(classes=CLASSES), pipeline=[])


CONFIG_TAIL = '''
custom_imports = dict(imports=['mmdet_ohem'], allow_failed_imports=False)
'''


@pytest.mark.parametrize('tool', ['train.py', 'test.py'])
def test_tools_check_data_exit_non_zero(tool, tmp_path):
    data = tmp_path / 'data'
    ann_file = write_coco(data, [image(1)], [
        ann(7, 1, [40, 10, -25, 20]), ann(8, 1, [5, 5, 10, 10])])
    loader = 'train_dataloader' if tool == 'train.py' else 'test_dataloader'
    config = tmp_path / 'cfg.py'
    config.write_text(f'{loader} = {coco_cfg(data, loader)[loader]!r}\n'
                      + CONFIG_TAIL)
    args = [sys.executable, osp.join(ROOT, 'tools', tool), str(config)]
    if tool == 'test.py':
        (tmp_path / 'ckpt.pth').write_bytes(b'')
        args.append(str(tmp_path / 'ckpt.pth'))
    out = subprocess.run(args + ['--check-data'], cwd=tmp_path,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 1, out.stderr[-2000:]
    assert (f'error: {ann_file}: annotation id 7 (image id 1): bbox '
            '[40, 10, -25, 20]') in out.stderr
    assert '-> mmdet: dropped silently' in out.stderr
    assert '1 error(s) (training would change or stop)' in out.stderr
    assert '--check-data: every image decodes' in out.stderr
    assert 'Traceback' not in out.stderr


def test_bccd_zero_area_boxes_are_reported_fast():
    root = os.environ.get('BCCD_ROOT', '')
    require(osp.isdir(root), 'BCCD not found: set BCCD_ROOT')
    dataset = dict(type='XMLDataset', data_root=root,
                   data_prefix=dict(sub_data_root=''),
                   metainfo=dict(classes=('RBC', 'WBC', 'Platelets')),
                   pipeline=[dict(type='LoadImageFromFile'),
                             dict(type='LoadAnnotations', with_bbox=True),
                             FILTER_BOXES])
    cfg = Config(dict(
        train_dataloader=dict(dataset=dict(
            dataset, ann_file='ImageSets/Main/trainval.txt')),
        val_dataloader=dict(dataset=dict(
            dataset, ann_file='ImageSets/Main/test.txt', test_mode=True)),
        val_cfg=dict(type='ValLoop')))
    start = time.perf_counter()
    reports, _ = check_annotations(cfg)
    seconds = time.perf_counter() - start
    assert [(r.images, r.boxes) for r in reports] == [(292, 3943),
                                                      (72, 945)]
    findings = [f for r in reports for f in r.findings]
    assert [(osp.basename(f.file), f.where, f.level) for f in findings] == [
        ('BloodImage_00338.xml', 'object[12]', 'error'),
        ('BloodImage_00343.xml', 'object[3]', 'error')]
    assert all('non-positive size (w=0, h=0)' in f.problem and
               'FilterAnnotations' in f.mmdet for f in findings)
    assert seconds < 5  # ~0.2 s on 2 cores


def test_other_dataset_types_are_left_alone(tmp_path):
    write_coco(tmp_path, [image(1)], [ann(1, 1, [1, 1, 10, 10])])
    cfg = coco_cfg(tmp_path)
    wrapped = dict(type='RepeatDataset', times=2, dataset=dict(
        type='ConcatDataset', datasets=[
            cfg['train_dataloader']['dataset'],
            dict(type='RandomSampleDataset')]))  # not mmdet's: no lazy_init
    reports, skipped = check_annotations(
        Config(dict(train_dataloader=dict(dataset=wrapped))))
    assert [(r.where, r.boxes) for r in reports] == [
        ('train_dataloader.dataset.dataset.datasets[0]', 1)]
    assert skipped == ['train_dataloader.dataset.dataset.datasets[1] '
                       '(RandomSampleDataset)']

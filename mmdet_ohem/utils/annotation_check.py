"""Read a config's annotations and say what mmdet would do with each defect.

mmdet's datasets skip a bad box without a word: ``CocoDataset`` drops a box
of width < 1, one outside the image or of an unknown category in
``parse_data_info``; ``XMLDataset`` drops an object whose class is not in
the config's ``classes`` and keeps an inverted box, which the pipeline then
drops (``FilterAnnotations``) or trains on (a NaN box target). Other defects
stop a run (NaN in an XML box, duplicate COCO annotation ids, a missing
image). Each check below reads the files with the standard library and
mirrors mmdet 3.3's parsing (same arithmetic, same order of tests), so the
stated fate is the one training would meet.

A finding is an *error* when it would change training or stop it (a box
dropped or trained as a degenerate target, a crash) and a *warning* when
it does not (a box clipped to the image, difficult or crowd boxes loaded as
ignored, an image the configured filter drops).
"""
import json
import math
import os
import os.path as osp
import sys
import time
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from typing import Dict, List, NamedTuple, Optional, Sequence, TextIO, Tuple

from .data_check import (DEFAULT_LOADERS, _is_local, iter_leaf_datasets,
                         iter_loader_datasets)

ERROR = 'error'
WARNING = 'warning'


class Finding(NamedTuple):
    """One defect of an annotation file and mmdet's reaction to it.

    Attributes:
        level (str): ``'error'`` (training changes or stops) or
            ``'warning'`` (it does not).
        file (str): The annotation file (COCO json, VOC xml or id list).
        where (str): The record, e.g. ``'annotation id 7 (image id 3)'``
            or ``'object[2]'``.
        problem (str): What is wrong with it.
        mmdet (str): What mmdet does with it.
        kind (str): A short key (``'box'``, ``'category'``,
            ``'duplicate'``, ``'missing'``, ``'crash'``, ...), for grouping.
        crash (bool): Whether mmdet stops on it.
    """
    level: str
    file: str
    where: str
    problem: str
    mmdet: str
    kind: str
    crash: bool = False

    def __str__(self) -> str:
        where = f'{self.where}: ' if self.where else ''
        return (f'{self.level}: {self.file}: {where}{self.problem} '
                f'-> mmdet: {self.mmdet}')


class FileReport(NamedTuple):
    """What one dataset's check read and found."""
    where: str
    dataset_type: str
    ann_file: str
    images: int
    boxes: int
    findings: List[Finding]


def _crash(file: str, where: str, problem: str, how: str,
           kind: str = 'crash') -> Finding:
    return Finding(ERROR, file, where, problem, how, kind, True)


# --------------------------------------------------------------- pipeline --
def _steps(pipeline, name: str) -> List[dict]:
    """The steps of ``pipeline`` whose type contains ``name``."""
    return [
        step for step in pipeline or []
        if name in str(step.get('type', ''))
    ]


def _clip_note(pipeline) -> str:
    """What happens downstream to a box partly outside the image."""
    if any(s.get('clip_object_border', True) for s in _steps(
            pipeline, 'Resize')):
        return 'kept; Resize clips it to the image'
    return 'kept as is (no Resize in the pipeline clips it)'


def _box_filter(pipeline) -> Optional[dict]:
    """The pipeline's ``FilterAnnotations`` step if it filters boxes."""
    for step in _steps(pipeline, 'FilterAnnotations'):
        if step.get('by_box', True):
            return step
    return None


# ------------------------------------------------------------------- COCO --
def _fmt(box) -> str:
    return json.dumps(box) if isinstance(box, list) else repr(box)


def _coco_defects(bbox, width, height) -> List[str]:
    """What is wrong with a COCO ``[x, y, w, h]`` box, in words."""
    x, y, w, h = bbox
    if not all(math.isfinite(v) for v in bbox):
        return ['non-finite coordinate (NaN/inf)']
    defects = []
    if w <= 0 or h <= 0:
        defects.append(f'non-positive size (w={w}, h={h})')
    elif w < 1 or h < 1:
        defects.append(f'under 1 px (w={w}, h={h})')
    if x < 0 or y < 0 or x + w > width or y + h > height:
        inside = (min(x + w, width) > max(x, 0)
                  and min(y + h, height) > max(y, 0))
        defects.append(('partly ' if inside else 'entirely ') +
                       f'outside the {width}x{height} image')
    return defects


def _coco_drop_reason(ann: dict, img: dict,
                      cat_ids: Sequence) -> Optional[str]:
    """Why ``CocoDataset.parse_data_info`` (mmdet 3.3) skips ``ann``;
    ``None`` if it keeps it. Same arithmetic and order; raises where it
    raises."""
    if ann.get('ignore', False):
        return "'ignore' is set"
    x1, y1, w, h = ann['bbox']
    inter_w = max(0, min(x1 + w, img['width']) - max(x1, 0))
    inter_h = max(0, min(y1 + h, img['height']) - max(y1, 0))
    if inter_w * inter_h == 0:
        return 'no overlap with the image'
    if ann['area'] <= 0 or w < 1 or h < 1:
        return "area <= 0 or w < 1 or h < 1"
    if ann['category_id'] not in cat_ids:
        return 'category not among the classes'
    return None


def _coco_categories(file: str, data: dict, classes
                     ) -> Tuple[List, Dict, List[Finding]]:
    """``cat_ids`` as mmdet computes them, names by id, and findings."""
    cats = data['categories']  # KeyError: pycocotools' getCatIds too
    names = {c['id']: c['name'] for c in cats}
    if classes:
        cat_ids = [c['id'] for c in cats if c['name'] in classes]
    else:
        cat_ids = [c['id'] for c in cats]
    findings = []
    found = [names[i] for i in cat_ids]
    for name in classes or ():
        if name not in found:
            findings.append(Finding(
                ERROR, file, f'class {name!r}', 'in the config\'s classes '
                'but no category of the file has that name',
                'CocoDataset numbers the categories it finds 0..k-1 in the '
                "file's order, so labels after it no longer match the "
                "config's class names and the head's class is never trained",
                'category'))
    present = [c for c in classes or () if c in found]
    if present and present != found:
        findings.append(Finding(
            WARNING, file, 'categories', f'file order {found} differs from '
            f"the config's classes {present}",
            "labels follow the file's order (CocoMetric agrees); class "
            'names shown from metainfo (visualisation, per-class AP) are '
            'swapped', 'category'))
    return cat_ids, names, findings


def check_coco(ann_file: str,
               img_prefix: str = '',
               classes: Optional[Sequence[str]] = None,
               test_mode: bool = False,
               filter_cfg: Optional[dict] = None,
               pipeline: Optional[Sequence[dict]] = None
               ) -> Tuple[List[Finding], int, int]:
    """Check a COCO json as mmdet's ``CocoDataset`` would read it.

    Args:
        ann_file (str): The json file.
        img_prefix (str): ``data_prefix['img']`` joined to ``data_root``.
        classes (Sequence[str], optional): The dataset's ``classes``;
            ``None``: every category.
        test_mode (bool): The dataset's ``test_mode`` (no filtering).
        filter_cfg (dict, optional): The dataset's ``filter_cfg``.
        pipeline (Sequence[dict], optional): The dataset's pipeline config
            (for what happens to a box partly outside the image).

    Returns:
        tuple[list[Finding], int, int]: Findings, images and boxes read.
    """
    try:
        with open(ann_file) as f:
            data = json.load(f)
        images = data.get('images', [])
        anns = data.get('annotations', [])
        cat_ids, cat_names, findings = _coco_categories(
            ann_file, data, classes)
        img_by_id = {img['id']: img for img in images}
        cat_ids = set(cat_ids)  # membership only from here on
        for ann in anns:
            ann['id'], ann['image_id'], ann['category_id']
    except Exception as exc:  # noqa: BLE001 - reported as the crash
        return [_crash(ann_file, '', f'unreadable: {type(exc).__name__}: '
                       f'{exc}', 'pycocotools.COCO raises the same: '
                       'the dataset does not build')], 0, 0

    # Duplicate image ids: pycocotools keeps the last entry of an id.
    seen: Dict = {}
    for img in images:
        first = seen.setdefault(img['id'], img)
        if first is not img:
            same = first.get('file_name') == img.get('file_name')
            findings.append(Finding(
                WARNING if same else ERROR, ann_file,
                f"image id {img['id']}", 'listed twice ('
                f"{first.get('file_name')!r}, {img.get('file_name')!r})",
                'read once' if same else
                f"pycocotools keeps the last entry ({img.get('file_name')!r}"
                f"); {first.get('file_name')!r} is never read and the boxes "
                'of both go to the kept file', 'duplicate'))
    counts = Counter(a['id'] for a in anns if a['image_id'] in img_by_id)
    for ann_id, n in counts.items():
        if n > 1:
            findings.append(_crash(
                ann_file, f'annotation id {ann_id}', f'used {n} times',
                f"AssertionError: Annotation ids in '{ann_file}' are not "
                'unique! (CocoDataset.load_data_list)', 'duplicate'))

    clip = _clip_note(pipeline)
    kept_by_img: Counter = Counter()
    crowd = ignored = 0
    for ann in anns:
        where = f"annotation id {ann['id']} (image id {ann['image_id']})"
        img = img_by_id.get(ann['image_id'])
        if img is None:
            findings.append(Finding(
                ERROR, ann_file, where, 'its image id is not in images',
                'never read (dropped silently)', 'missing'))
            continue
        try:
            reason = _coco_drop_reason(ann, img, cat_ids)
            defects = _coco_defects(ann['bbox'], img['width'], img['height'])
        except Exception as exc:  # noqa: BLE001 - mmdet raises it too
            findings.append(_crash(
                ann_file, where, f"bbox {_fmt(ann.get('bbox'))}: "
                f'{type(exc).__name__}: {exc}', 'CocoDataset.parse_data_info '
                'raises the same: the dataset does not build'))
            continue
        if reason == "'ignore' is set":
            ignored += 1
            continue
        cat = ann['category_id']
        if cat not in cat_names:
            defects.append(f'unknown category id {cat}')
        elif cat not in cat_ids:
            defects.append(f'category {cat_names[cat]!r} (id {cat}) not in '
                           "the config's classes")
        if reason is None and not defects:
            kept_by_img[ann['image_id']] += 1
            crowd += bool(ann.get('iscrowd', False))
            continue  # the common case: nothing to format
        box = f"bbox {_fmt(ann['bbox'])}: "
        if reason is not None:
            kind = 'category' if reason.startswith('category') else 'box'
            findings.append(Finding(
                ERROR, ann_file, where, box + '; '.join(defects or [reason]),
                f'dropped silently (CocoDataset.parse_data_info: {reason})',
                kind))
            continue
        kept_by_img[ann['image_id']] += 1
        crowd += bool(ann.get('iscrowd', False))
        if any('non-finite' in d for d in defects):
            findings.append(Finding(
                ERROR, ann_file, where, box + '; '.join(defects),
                'kept: an inf coordinate reaches the pipeline (NaN/inf box '
                'targets)', 'box'))
        elif defects:
            findings.append(Finding(WARNING, ann_file, where,
                                    box + '; '.join(defects), clip, 'box'))

    findings += _coco_images(ann_file, img_prefix, img_by_id, anns, cat_ids,
                             kept_by_img, test_mode, filter_cfg)
    if crowd:
        findings.append(Finding(
            WARNING, ann_file, '', f'{crowd} crowd box(es) (iscrowd=1)',
            'loaded as ignored_instances: not training targets', 'ignored'))
    if ignored:
        findings.append(Finding(
            WARNING, ann_file, '', f"{ignored} box(es) with 'ignore' set",
            'skipped, as the file asks', 'ignored'))
    return findings, len(img_by_id), len(anns)


def _coco_images(ann_file, img_prefix, img_by_id, anns, cat_ids,
                 kept_by_img, test_mode, filter_cfg) -> List[Finding]:
    """Missing files, and images ``CocoDataset.filter_data`` drops."""
    filter_cfg = filter_cfg or {}
    filtering = not test_mode and bool(filter_cfg)
    min_size = filter_cfg.get('min_size', 0) if filtering else 0
    # filter_data keeps an image with a raw annotation of the classes
    # (cat_img_map), even when parse_data_info dropped all its boxes.
    in_cat = {a['image_id'] for a in anns if a['category_id'] in cat_ids}
    findings = []
    empty = small = 0
    for img_id, img in img_by_id.items():
        where = f'image id {img_id}'
        try:
            path = osp.join(img_prefix, img['file_name'])
            img['width'], img['height']
        except (KeyError, TypeError) as exc:
            findings.append(_crash(ann_file, where, f'no {exc} field',
                                   'CocoDataset.parse_data_info raises '
                                   'KeyError: the dataset does not build'))
            continue
        dropped = None
        if filtering and filter_cfg.get('filter_empty_gt', False) \
                and img_id not in in_cat:
            dropped, empty = 'filter_empty_gt', empty + 1
        elif min(img['width'], img['height']) < min_size:
            dropped, small = 'min_size', small + 1
        if _is_local(path) and not osp.exists(path):
            findings.append(Finding(
                WARNING, ann_file, where, f'{path} is missing',
                f'not read: filter_cfg.{dropped} drops the image', 'missing')
                if dropped else _crash(
                    ann_file, where, f'{path} is missing',
                    'LoadImageFromFile raises FileNotFoundError when it is '
                    'read: the run stops', 'missing'))
        elif dropped is None and img_id in in_cat \
                and not kept_by_img[img_id]:
            # A consequence of the box errors above, not one more.
            findings.append(Finding(
                WARNING, ann_file, where, 'every box of the image is dropped',
                'still read, as an image without objects' + (
                    ' (filter_empty_gt counts the raw annotations)'
                    if filtering else ''), 'box'))
    if empty:
        findings.append(Finding(
            WARNING, ann_file, '', f'{empty} image(s) without a box of the '
            'classes', 'dropped by filter_cfg.filter_empty_gt, as '
            'configured', 'filtered'))
    if small:
        findings.append(Finding(
            WARNING, ann_file, '', f'{small} image(s) under '
            f'filter_cfg.min_size={min_size}', 'dropped, as configured',
            'filtered'))
    return findings


# -------------------------------------------------------------------- VOC --
def _voc_box(obj) -> List[int]:
    """``XMLDataset._parse_instance_info``'s box: int(float()), minus one.
    Raises where it raises (NaN: ValueError, inf: OverflowError)."""
    bnd = obj.find('bndbox')
    return [
        int(float(bnd.find(k).text)) - 1
        for k in ('xmin', 'ymin', 'xmax', 'ymax')
    ]


def _voc_degenerate_fate(test_mode, ignored, box_filter,
                         only_box) -> Tuple[str, str]:
    """(level, what happens) to a kept box of width or height <= 0."""
    if ignored:
        return WARNING, 'kept as ignored (difficult): not a training target'
    if test_mode:
        return ERROR, ('kept as ground truth that no detection can match '
                       '(lowers recall)')
    if box_filter is not None:
        fate = ('kept by XMLDataset, then dropped by the pipeline\'s '
                'FilterAnnotations(min_gt_bbox_wh='
                f"{tuple(box_filter.get('min_gt_bbox_wh', (1, 1)))})")
        if only_box and box_filter.get('keep_empty', True):
            fate += ('; the image has no other box, so the sample is '
                     'replaced by another image')
        return ERROR, fate
    return ERROR, ('kept: a gt box of width or height <= 0 reaches the '
                   'model; its box target is log(<=0), NaN/inf (mmdet\'s '
                   'samplers pick it)')


def _voc_objects(xml_path, root, classes, test_mode, bbox_min_size,
                 pipeline) -> Tuple[List[Finding], int, int]:
    """Findings of one XML's objects, how many it has and how many
    ``XMLDataset`` keeps."""
    findings, parsed = [], []
    size = root.find('size')
    width = int(size.find('width').text) if size is not None else None
    height = int(size.find('height').text) if size is not None else None
    objects = root.findall('object')
    difficult_count = 0
    for i, obj in enumerate(objects):
        where = f'object[{i}]'
        name = obj.find('name').text
        if name not in classes:
            findings.append(Finding(
                ERROR, xml_path, where, f"class {name!r} not in the "
                f'config\'s classes {tuple(classes)}',
                'dropped silently (XMLDataset._parse_instance_info)',
                'category'))
            continue
        try:
            difficult = obj.find('difficult')
            difficult = 0 if difficult is None else int(difficult.text)
            box = _voc_box(obj)
        except Exception as exc:  # noqa: BLE001 - mmdet raises it too
            findings.append(_crash(
                xml_path, where, f'{name} box: {type(exc).__name__}: {exc}',
                'XMLDataset._parse_instance_info raises the same: the '
                'dataset does not build', 'box'))
            continue
        w, h = box[2] - box[0], box[3] - box[1]
        ignored = bool(difficult) or (bbox_min_size is not None and (
            w < bbox_min_size or h < bbox_min_size))
        difficult_count += bool(difficult)
        parsed.append((where, name, box, w, h, ignored))
    box_filter = _box_filter(pipeline)
    clip = _clip_note(pipeline)
    trainable = sum(1 for p in parsed if not p[5])
    for where, name, box, w, h, ignored in parsed:
        what = f'{name} box {box} (xyxy, minus one as XMLDataset): '
        if w <= 0 or h <= 0:
            level, fate = _voc_degenerate_fate(
                test_mode, ignored, box_filter, trainable == 1)
            findings.append(Finding(level, xml_path, where, what +
                                    f'non-positive size (w={w}, h={h})',
                                    fate, 'box'))
        elif width is not None and (box[0] < 0 or box[1] < 0
                                    or box[2] > width or box[3] > height):
            inside = (min(box[2], width) > max(box[0], 0)
                      and min(box[3], height) > max(box[1], 0))
            problem = what + ('partly' if inside else 'entirely') + \
                f' outside the {width}x{height} image'
            if inside:
                findings.append(Finding(WARNING, xml_path, where, problem,
                                        clip, 'box'))
            else:
                findings.append(Finding(
                    ERROR, xml_path, where, problem, 'kept; Resize clips '
                    'it to a box of zero area (a degenerate gt box)', 'box'))
    if difficult_count:
        findings.append(Finding(
            WARNING, xml_path, '', f'{difficult_count} difficult box(es)',
            'loaded as ignored_instances: not training targets', 'ignored'))
    return findings, len(objects), len(parsed)


def _read_ids(ann_file: str) -> List[str]:
    """The ids ``mmengine.fileio.list_from_file`` reads (blank lines too)."""
    with open(ann_file) as f:
        return [line.rstrip('\n\r') for line in f]


def check_voc(ann_file: str,
              sub_data_root: str,
              classes: Sequence[str],
              img_subdir: str = 'JPEGImages',
              ann_subdir: str = 'Annotations',
              test_mode: bool = False,
              filter_cfg: Optional[dict] = None,
              pipeline: Optional[Sequence[dict]] = None
              ) -> Tuple[List[Finding], int, int]:
    """Check a VOC-style set as mmdet's ``XMLDataset`` would read it.

    ``XMLDataset`` reads ``<sub_data_root>/<ann_subdir>/<id>.xml`` and the
    image ``<sub_data_root>/<img_subdir>/<id>.jpg`` (always ``.jpg``) for
    each line of ``ann_file``.

    Args:
        ann_file (str): The id list.
        sub_data_root (str): ``data_prefix['sub_data_root']`` joined to
            ``data_root``.
        classes (Sequence[str]): The dataset's ``classes``.
        img_subdir (str): As ``XMLDataset``'s.
        ann_subdir (str): As ``XMLDataset``'s.
        test_mode (bool): The dataset's ``test_mode`` (no filtering).
        filter_cfg (dict, optional): The dataset's ``filter_cfg``.
        pipeline (Sequence[dict], optional): The dataset's pipeline config
            (``FilterAnnotations`` and ``Resize`` decide a bad box's fate).

    Returns:
        tuple[list[Finding], int, int]: Findings, images and boxes read.
    """
    try:
        ids = _read_ids(ann_file)
    except OSError as exc:
        return [_crash(ann_file, '', f'unreadable: {exc}',
                       'the dataset does not build')], 0, 0
    findings = []
    for img_id, n in Counter(ids).items():
        if n > 1:
            findings.append(Finding(
                WARNING, ann_file, f'id {img_id!r}', f'listed {n} times',
                f'read {n} times per epoch ({n}x its weight)', 'duplicate'))
    filter_cfg = filter_cfg or {}
    filtering = not test_mode and bool(filter_cfg)
    bbox_min_size = filter_cfg.get('bbox_min_size')
    img_dir = osp.join(sub_data_root, img_subdir)
    listing = None
    boxes = empty = 0
    for img_id in dict.fromkeys(ids):
        xml_path = osp.join(sub_data_root, ann_subdir, f'{img_id}.xml')
        img_path = osp.join(img_dir, f'{img_id}.jpg')
        try:
            root = ET.parse(xml_path).getroot()
            found, n_boxes, kept = _voc_objects(xml_path, root, classes,
                                                test_mode, bbox_min_size,
                                                pipeline)
        except Exception as exc:  # noqa: BLE001 - mmdet raises it too
            findings.append(_crash(
                xml_path, f'id {img_id!r}', f'{type(exc).__name__}: {exc}',
                'XMLDataset.parse_data_info raises the same: the dataset '
                'does not build', 'missing' if isinstance(
                    exc, FileNotFoundError) else 'crash'))
            continue
        findings += found
        boxes += n_boxes
        has_size = root.find('size') is not None
        dropped = filtering and filter_cfg.get('filter_empty_gt', False) \
            and kept == 0
        empty += dropped
        if _is_local(img_path) and not osp.exists(img_path):
            if listing is None:
                listing = {n.lower(): n for n in (
                    os.listdir(img_dir) if osp.isdir(img_dir) else [])}
            other = listing.get(f'{img_id}.jpg'.lower())
            problem = f'{img_path} is missing' + (
                f' ({other} is there: XMLDataset reads <id>.jpg only)'
                if other else '')
            if not has_size:
                findings.append(_crash(
                    xml_path, '', problem, 'the XML has no <size>, so '
                    'XMLDataset decodes the image at build: the dataset '
                    'does not build', 'missing'))
            elif dropped:
                findings.append(Finding(
                    WARNING, xml_path, '', problem, 'not read: '
                    'filter_cfg.filter_empty_gt drops the image', 'missing'))
            else:
                findings.append(_crash(
                    xml_path, '', problem, 'LoadImageFromFile raises '
                    'FileNotFoundError when it is read: the run stops',
                    'missing'))
        elif not has_size:
            findings.append(Finding(
                WARNING, xml_path, '', 'no <size>', 'XMLDataset decodes the '
                'image at build to learn its size (slower start)', 'size'))
    if empty:
        findings.append(Finding(
            WARNING, ann_file, '', f'{empty} image(s) without a box of the '
            'classes', 'dropped by filter_cfg.filter_empty_gt, as '
            'configured', 'filtered'))
    return findings, len(set(ids)), boxes


# ----------------------------------------------------------------- config --
def _check_leaf(dataset_cfg, where: str) -> Optional[FileReport]:
    """Check one leaf dataset config; ``None`` if it is not COCO or XML."""
    from mmdet.datasets import CocoDataset, XMLDataset
    from mmdet.registry import DATASETS
    pipeline = dataset_cfg.get('pipeline')
    cls = dataset_cfg.get('type')
    cls = DATASETS.get(cls) if isinstance(cls, str) else cls
    if not (isinstance(cls, type)
            and issubclass(cls, (CocoDataset, XMLDataset))):
        return None
    name = cls.__name__
    try:
        # Built lazily: paths joined and classes resolved as mmdet does,
        # no file read and no transform built.
        dataset = DATASETS.build(
            dict(dataset_cfg, pipeline=[], lazy_init=True))
    except Exception as exc:  # noqa: BLE001 - the run would stop there
        ann_file = str(dataset_cfg.get('ann_file'))
        return FileReport(where, name, ann_file, 0, 0, [_crash(
            ann_file, '', 'the dataset does not build: '
            f'{type(exc).__name__}: {exc}', 'the run stops at start')])
    ann_file = dataset.ann_file
    classes = dataset.metainfo.get('classes')
    kwargs = dict(test_mode=dataset.test_mode, filter_cfg=dataset.filter_cfg,
                  pipeline=pipeline)
    if not ann_file or not _is_local(ann_file):
        return None
    if isinstance(dataset, CocoDataset) and \
            type(dataset).parse_data_info is CocoDataset.parse_data_info:
        if 'img' not in dataset.data_prefix:
            findings = [_crash(ann_file, '', "data_prefix has no 'img'",
                               "KeyError: 'img' in CocoDataset."
                               'parse_data_info')]
            return FileReport(where, name, ann_file, 0, 0, findings)
        findings, images, boxes = check_coco(
            ann_file, dataset.data_prefix.get('img', ''), classes, **kwargs)
    elif isinstance(dataset, XMLDataset) and \
            type(dataset).parse_data_info is XMLDataset.parse_data_info:
        if classes is None:
            findings, images, boxes = [_crash(
                ann_file, '', 'no classes in metainfo',
                'AssertionError: `classes` in `XMLDataset` can not be '
                'None')], 0, 0
        else:
            findings, images, boxes = check_voc(
                ann_file, dataset.sub_data_root, classes,
                dataset.img_subdir, dataset.ann_subdir, **kwargs)
    else:
        return None
    return FileReport(where, name, ann_file, images, boxes, findings)


def check_annotations(cfg, loaders: Sequence[str] = DEFAULT_LOADERS
                      ) -> Tuple[List[FileReport], List[str]]:
    """Read the annotations of every dataset ``loaders`` read.

    Args:
        cfg (Config): A full config with mmdet's registries in scope.
        loaders (Sequence[str]): Dataloader keys, as
            :func:`~mmdet_ohem.utils.data_check.iter_loader_datasets`.

    Returns:
        tuple[list[FileReport], list[str]]: A report per COCO/XML dataset,
        and the key paths of datasets left unchecked (other types, remote
        files).
    """
    reports, skipped = [], []
    for loader_cfg, loader_where in iter_loader_datasets(cfg, loaders):
        for dataset_cfg, where in iter_leaf_datasets(loader_cfg, loader_where):
            report = _check_leaf(dataset_cfg, where)
            if report is None:
                skipped.append(f"{where} ({dataset_cfg.get('type')})")
            else:
                reports.append(report)
    return reports, skipped


def _print_capped(findings: List[Finding], stream: TextIO,
                  max_per_kind: int) -> None:
    """Print the findings, at most ``max_per_kind`` per (level, kind)."""
    shown: Dict[Tuple[str, str], int] = defaultdict(int)
    for finding in findings:
        key = (finding.level, finding.kind)
        shown[key] += 1
        if shown[key] <= max_per_kind:
            print(f'  {finding}', file=stream)
    for (level, kind), n in shown.items():
        if n > max_per_kind:
            print(f'  ... and {n - max_per_kind} more {level}(s) of kind '
                  f'{kind!r}', file=stream)


def run_data_check(cfg,
                   loaders: Sequence[str] = DEFAULT_LOADERS,
                   flag: str = '--check-data',
                   stream: TextIO = sys.stderr,
                   max_per_kind: int = 50) -> int:
    """The tools' ``--check-data``: annotations, then image decoding.

    Args:
        cfg (Config): A full config with mmdet's registries in scope.
        loaders (Sequence[str]): Dataloader keys whose datasets are read.
        flag (str): The flag's name, for messages.
        stream (TextIO): Where to print.
        max_per_kind (int): Findings printed per level and kind of each
            dataset; the counts are always complete.

    Returns:
        int: 1 if any finding would change or stop the run (an error) or
        an image does not decode, else 0.
    """
    from .image_check import check_images
    start = time.perf_counter()
    reports, skipped = check_annotations(cfg, loaders)
    errors = warnings = 0
    crash = False
    for report in reports:
        n_err = sum(f.level == ERROR for f in report.findings)
        errors += n_err
        warnings += len(report.findings) - n_err
        crash |= any(f.crash for f in report.findings)
        print(f'{flag}: {report.where} ({report.dataset_type}, '
              f'{report.ann_file}): {report.images} images, {report.boxes} '
              f'boxes, {n_err} error(s), {len(report.findings) - n_err} '
              'warning(s)', file=stream)
        _print_capped(report.findings, stream, max_per_kind)
    for where in skipped:
        print(f'{flag}: {where}: annotations not checked (neither a COCO '
              'nor an XML dataset of mmdet, or not a local file)',
              file=stream)
    print(f'{flag}: annotations read in {time.perf_counter() - start:.2f} s: '
          f'{errors} error(s) (training would change or stop), {warnings} '
          'warning(s) (no change to training)', file=stream)
    if crash:
        print(f'{flag}: images not decoded: fix the errors that stop the '
              'dataset first', file=stream)
        return 1
    start = time.perf_counter()
    bad = check_images(cfg, loaders)
    for image in bad:
        print(f'cannot load {image.path} ({image.where}): {image.error}; '
              f'{image.fix}', file=stream)
    if bad:
        print(f'{len(bad)} image(s) would stop training; see above',
              file=stream)
    else:
        print(f'{flag}: every image decodes '
              f'({time.perf_counter() - start:.2f} s)', file=stream)
    return 1 if errors or bad else 0

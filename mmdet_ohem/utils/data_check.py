"""Fail fast, with a useful message, when a config's dataset is missing.

Without this, ``tools/train.py`` on a machine without COCO spends a while
importing and building the model before the dataset raises a bare
``FileNotFoundError`` deep inside mmengine. The tools call it on the
config before they build anything.
"""
import os.path as osp
from typing import Iterator, Optional, Sequence, Tuple

DEMO_HINT = 'run the embedded benchmark: make demo'
DEFAULT_LOADERS = ('train_dataloader', 'val_dataloader')


def _get(cfg, key: str, default=None):
    """``cfg[key]`` for a dict or ``ConfigDict``, ``default`` if absent."""
    try:
        value = cfg.get(key, default)
    except AttributeError:
        return default
    return default if value is None else value


def iter_leaf_datasets(dataset_cfg,
                       where: str = 'dataset') -> Iterator[Tuple[object, str]]:
    """The dataset configs that read files, wrappers unrolled.

    ``RepeatDataset``/``ClassBalancedDataset``/``MultiImageMixDataset`` and
    the like hold one ``dataset``, ``ConcatDataset`` a list ``datasets``;
    both are followed.

    Args:
        dataset_cfg (dict): A dataset config.
        where (str): Its key path, for messages.

    Yields:
        tuple[dict, str]: Each leaf dataset config and its key path.
    """
    if not dataset_cfg:
        return
    inner = _get(dataset_cfg, 'dataset')
    if inner is not None:
        yield from iter_leaf_datasets(inner, f'{where}.dataset')
        return
    datasets = _get(dataset_cfg, 'datasets')
    if datasets is not None:
        for i, sub in enumerate(datasets):
            yield from iter_leaf_datasets(sub, f'{where}.datasets[{i}]')
        return
    yield dataset_cfg, where


def _dataset_file(leaf, key: str) -> Optional[str]:
    """The file ``leaf[key]`` names, joined to ``data_root`` as mmengine's
    ``BaseDataset`` (``ann_file``) and mmdet's ``BaseDetDataset``
    (``proposal_file``) join it unless it is absolute; ``None`` if unset."""
    path = _get(leaf, key, '')
    if not isinstance(path, str) or not path:
        return None
    data_root = _get(leaf, 'data_root')
    if data_root and not osp.isabs(path):
        path = osp.join(data_root, path)
    return path


def iter_annotation_files(dataset_cfg,
                          where: str = 'dataset'
                          ) -> Iterator[Tuple[str, str, Optional[str]]]:
    """Annotation files a dataset config reads, wrappers unrolled
    (:func:`iter_leaf_datasets`), joined to ``data_root`` (unless absolute).

    Args:
        dataset_cfg (dict): A dataset config.
        where (str): Its key path, for messages.

    Yields:
        tuple[str, str, str | None]: The annotation path, the key path of
        its dataset and the dataset's ``data_root``.
    """
    for leaf, leaf_where in iter_leaf_datasets(dataset_cfg, where):
        path = _dataset_file(leaf, 'ann_file')
        if path is not None:
            yield path, leaf_where, _get(leaf, 'data_root')


def iter_proposal_files(dataset_cfg,
                        where: str = 'dataset') -> Iterator[Tuple[str, str]]:
    """Precomputed proposal files (Fast R-CNN) a dataset config reads,
    wrappers unrolled, joined to ``data_root`` (unless absolute).

    Args:
        dataset_cfg (dict): A dataset config.
        where (str): Its key path, for messages.

    Yields:
        tuple[str, str]: The proposal file's path and the key path of its
        dataset.
    """
    for leaf, leaf_where in iter_leaf_datasets(dataset_cfg, where):
        path = _dataset_file(leaf, 'proposal_file')
        if path is not None:
            yield path, leaf_where


def iter_loader_datasets(cfg,
                         loaders: Sequence[str] = DEFAULT_LOADERS
                         ) -> Iterator[Tuple[object, str]]:
    """The dataset config of each of ``loaders`` that a run will read.

    Dataloaders that are absent or ``None`` are skipped, as is a
    ``val_dataloader`` when the config has no ``val_cfg``.

    Args:
        cfg (Config | dict): A full MMDetection config.
        loaders (Sequence[str]): Dataloader keys, in order.

    Yields:
        tuple[dict, str]: The dataset config and its key path.
    """
    for key in loaders:
        if key == 'val_dataloader' and not _get(cfg, 'val_cfg'):
            continue
        loader = _get(cfg, key)
        if loader:
            yield _get(loader, 'dataset'), f'{key}.dataset'


def _is_local(path: str) -> bool:
    """Whether mmengine would read ``path`` from the local file system."""
    return '://' not in path


def missing_raccoon_message(path: str, data_root: Optional[str]) -> str:
    """What to tell a user of ``configs/benchmarks/raccoon/`` whose split is
    missing.

    The split lists are written by ``tools/data/prepare_raccoon.py`` from the
    raccoon photos, which are not shipped: say which of the two is absent.
    """
    split = osp.realpath(path)  # the configs dir may be a link
    root = osp.normpath(data_root) if data_root else '<data_root>'
    prepare = ('python tools/data/prepare_raccoon.py '
               f'--root {root} --out {osp.dirname(split)}')
    if data_root and osp.isdir(data_root):
        return f'Raccoon split not found at {split}. Write it: {prepare}'
    return (f'Raccoon split not found at {split}, nor the raccoon photos at '
            f'{root}: configs/benchmarks/raccoon/ are end-to-end checks on '
            'real photos that are not shipped with mmdet-ohem. Put the '
            'dataset there '
            f'(images/, annotations/) and run {prepare}, or {DEMO_HINT}')


def missing_dataset_message(path: str, where: str,
                            data_root: Optional[str]) -> str:
    """What to tell a user whose annotation file ``path`` is missing."""
    if 'raccoon' in f'{path} {data_root}'.lower():
        return missing_raccoon_message(path, data_root)
    root = (data_root or osp.dirname(osp.dirname(path)) or '.').rstrip('/')
    if 'coco' in path.lower():
        return (f'COCO annotations not found at {path}. Put COCO 2017 under '
                f'{root} (see mmdet docs) or {DEMO_HINT}')
    if osp.basename(osp.dirname(osp.normpath(path))) == 'cards':
        path = osp.realpath(path)  # the configs dir may be a link
        return (f'Cards annotations not found at {path}: they are written '
                'from the photos by python tools/data/prepare_cards.py '
                f'--root $CARDS_ROOT --out {osp.dirname(path)}, or '
                f'{DEMO_HINT}')
    if 'hard_negatives' in path:
        return (f'Annotations not found at {path}. Generate the dataset: '
                'python tools/data/generate_hard_negatives.py --out '
                f'{root}, or {DEMO_HINT}')
    return (f'Annotations not found at {path} ({where}). Put the dataset '
            f'under {root} or {DEMO_HINT}')


def check_dataset_files(cfg, loaders: Sequence[str] = DEFAULT_LOADERS) -> None:
    """Raise if an annotation or proposal file the dataloaders read is missing.

    Only local paths are checked (``s3://`` and other backends are left to
    mmengine); the dataloaders are those :func:`iter_loader_datasets`
    yields.

    Args:
        cfg (Config | dict): A full MMDetection config.
        loaders (Sequence[str]): Dataloader keys to check, in order.

    Raises:
        FileNotFoundError: Naming the first missing file and how to get it
            (or to run the embedded benchmark instead).
    """
    for dataset_cfg, loader_where in iter_loader_datasets(cfg, loaders):
        for path, where, data_root in iter_annotation_files(
                dataset_cfg, loader_where):
            if _is_local(path) and not osp.exists(path):
                raise FileNotFoundError(
                    missing_dataset_message(path, where, data_root))
        for path, where in iter_proposal_files(dataset_cfg, loader_where):
            if _is_local(path) and not osp.exists(path):
                raise FileNotFoundError(
                    f'Proposals not found at {path} ({where}.proposal_file).'
                    ' Fast R-CNN reads the proposals an RPN dumped for this '
                    'split: train the RPN, then run tools/test.py on it with '
                    "mmdet's DumpProposals metric (docs/fast_rcnn.md)")

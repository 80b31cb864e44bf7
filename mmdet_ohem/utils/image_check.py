"""Decode every image of a config's datasets before training starts.

A file the loader cannot decode stops mmdet's pipeline with ``AssertionError:
failed to load image`` in the middle of a run, after its time is spent. Some
files decode with one backend and not another (a truncated JPEG that
``cv2.imread`` and PIL read but ``cv2.imdecode``, which mmcv uses, does
not), so each image is decoded exactly as the dataset's
``LoadImageFromFile`` will: the same file backend, ``imdecode_backend`` and
``color_type``.
"""
from concurrent.futures import ThreadPoolExecutor
from typing import List, NamedTuple, Optional, Sequence

from .data_check import (DEFAULT_LOADERS, iter_leaf_datasets,
                         iter_loader_datasets)


class BadImage(NamedTuple):
    """An image the pipeline would fail to load, and what to do."""
    path: str
    where: str
    error: str
    fix: str


def _loader_settings(pipeline) -> dict:
    """``LoadImageFromFile``'s decoding settings in ``pipeline``."""
    for step in pipeline or []:
        if 'LoadImage' in str(step.get('type', '')):
            return dict(
                imdecode_backend=step.get('imdecode_backend', 'cv2'),
                color_type=step.get('color_type', 'color'),
                backend_args=step.get('backend_args'))
    return dict(imdecode_backend='cv2', color_type='color', backend_args=None)


def _decode(path: str, settings: dict) -> Optional[str]:
    """``None`` if ``path`` decodes as the pipeline will, else the error."""
    import mmcv
    from mmengine import fileio
    try:
        data = fileio.get(path, backend_args=settings['backend_args'])
        img = mmcv.imfrombytes(data, flag=settings['color_type'],
                               backend=settings['imdecode_backend'])
    except Exception as exc:  # noqa: BLE001 - reported per file
        return f'{type(exc).__name__}: {exc}'
    if img is None:
        return f"{settings['imdecode_backend']} could not decode it"
    return None


def _fix(path: str, settings: dict) -> str:
    """What to do about an image that failed with ``settings``."""
    if settings['imdecode_backend'] != 'pillow':
        other = dict(settings, imdecode_backend='pillow')
        if _decode(path, other) is None:
            return ("PIL decodes it: set imdecode_backend='pillow' in the "
                    'pipeline\'s LoadImageFromFile, or re-encode the file')
    return 're-encode the file, or remove it from the annotations'


def check_images(cfg,
                 loaders: Sequence[str] = DEFAULT_LOADERS,
                 num_threads: int = 4) -> List[BadImage]:
    """Every image of the config's datasets that would fail to load.

    Args:
        cfg (Config): A full config with mmdet's registries in scope.
        loaders (Sequence[str]): Dataloader keys whose datasets are read.
        num_threads (int): Decoding threads (the decoders release the GIL).

    Returns:
        list[BadImage]: The files that fail, with the error and a fix.
    """
    from mmdet.registry import DATASETS
    bad: List[BadImage] = []
    for loader_cfg, loader_where in iter_loader_datasets(cfg, loaders):
        for dataset_cfg, where in iter_leaf_datasets(loader_cfg, loader_where):
            settings = _loader_settings(dataset_cfg.get('pipeline'))
            # The annotations name the images; no transform runs.
            dataset = DATASETS.build(dict(dataset_cfg, pipeline=[]))
            paths = [
                dataset.get_data_info(i)['img_path']
                for i in range(len(dataset))
            ]
            with ThreadPoolExecutor(num_threads) as pool:
                errors = list(pool.map(lambda p: _decode(p, settings), paths))
            bad += [
                BadImage(p, where, e, _fix(p, settings))
                for p, e in zip(paths, errors) if e is not None
            ]
    return bad

"""Load single files of ``mmdet_ohem`` without importing the package.

Importing ``mmdet_ohem`` pulls in torch and mmdet (seconds). The tools'
dataset check needs neither, so they load ``utils/data_check.py`` alone and
report a missing dataset at once. (Scripts run from ``tools/`` find this
module because Python puts a script's folder first on ``sys.path``.)
"""
import importlib.util
import os.path as osp
from types import ModuleType


def load_package_file(relpath: str) -> ModuleType:
    """Execute ``mmdet_ohem/<relpath>`` as a stand-alone module.

    Args:
        relpath (str): Path inside the package, e.g.
            ``'utils/data_check.py'``; the file must import nothing from
            ``mmdet_ohem``.

    Returns:
        ModuleType: The loaded module.
    """
    spec = importlib.util.find_spec('mmdet_ohem')
    if spec is None or not spec.submodule_search_locations:
        raise ImportError('mmdet_ohem is not installed; run `make install` '
                          'or `pip install -e .` in the repository')
    path = osp.join(list(spec.submodule_search_locations)[0], relpath)
    name = '_mmdet_ohem_' + osp.splitext(relpath)[0].replace('/', '_')
    module_spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def silence_import_noise() -> None:
    """The stack's known deprecations (``utils/noise.py``), filtered for the
    whole run: a tool is a program, and it imports mmengine before
    ``mmdet_ohem`` (which silences them only while it imports the stack)."""
    load_package_file(osp.join('utils', 'noise.py')).silence_import_noise()


def load_data_check() -> ModuleType:
    """``mmdet_ohem/utils/data_check.py``, loaded without the package."""
    return load_package_file(osp.join('utils', 'data_check.py'))

"""``import mmdet_ohem`` changes nothing in the process but its registered
modules and mmengine's loader for local checkpoints."""
import ast
import glob
import json
import os.path as osp
import subprocess
import sys

import mmdet_ohem

PACKAGE = osp.dirname(mmdet_ohem.__file__)
STACK = ('torch', 'numpy', 'mmengine', 'mmcv', 'mmdet')

# Run in a fresh interpreter: the stack first, then a snapshot, then
# mmdet_ohem, then the same snapshot again.
PROBE = r'''
import importlib, json, logging, random, sys, warnings

for name in json.loads(sys.argv[1]):
    importlib.import_module(name)

import numpy as np
import torch
from mmengine.runner.checkpoint import CheckpointLoader


def snapshot():
    root = logging.getLogger()
    return dict(
        filters=[(f[0], getattr(f[1], 'pattern', f[1]), f[2].__name__,
                  getattr(f[3], 'pattern', f[3]), f[4])
                 for f in warnings.filters],
        loaders={p: f'{f.__module__}.{f.__qualname__}'
                 for p, f in CheckpointLoader._schemes.items()},
        safe_globals=sorted(map(repr,
                                torch.serialization.get_safe_globals())),
        default_dtype=str(torch.get_default_dtype()),
        threads=torch.get_num_threads(),
        grad=torch.is_grad_enabled(),
        deterministic=torch.are_deterministic_algorithms_enabled(),
        torch_rng=torch.get_rng_state().tolist(),
        numpy_rng=np.random.get_state()[1].tolist(),
        random_rng=list(random.getstate()[1]),
        root_logger=[root.level, list(map(repr, root.handlers))],
        showwarning=repr(warnings.showwarning),
        excepthook=repr(sys.excepthook))


before = snapshot()
import mmdet_ohem  # noqa: E402,F401
print(json.dumps(dict(before=before, after=snapshot())))
'''


def stack_imports() -> list:
    """Every module of the stack that the package's code imports, found in
    its source (``import x.y`` and ``from x.y import z``, lazy ones too)."""
    names = set()
    for path in glob.glob(osp.join(PACKAGE, '**', '*.py'), recursive=True):
        with open(path) as f:
            tree = ast.parse(f.read())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names.add(node.module)
    return sorted(n for n in names if n.split('.')[0] in STACK)


def test_import_changes_only_the_local_checkpoint_loader():
    imports = stack_imports()
    assert 'mmdet.models.roi_heads' in imports  # the probe finds them
    assert 'mmengine.runner.checkpoint' in imports
    out = subprocess.run(
        [sys.executable, '-c', PROBE, json.dumps(imports)],
        capture_output=True, text=True, check=True)
    snap = json.loads(out.stdout.strip().splitlines()[-1])
    before, after = snap['before'], snap['after']

    # mmengine's local loader is replaced by the package's safe one ...
    assert before['loaders'][''] == \
        'mmengine.runner.checkpoint.load_from_local'
    assert after['loaders'][''] == 'mmdet_ohem.compat.load_from_local'
    # ... and nothing else: the other loaders, the warning filters, torch's
    # allow-list for weights-only loads, dtype, threads, RNGs, logging.
    assert {k: v for k, v in after['loaders'].items() if k} == \
        {k: v for k, v in before['loaders'].items() if k}
    del before['loaders'], after['loaders']
    for key in before:
        assert after[key] == before[key], key

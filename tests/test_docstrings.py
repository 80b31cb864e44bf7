"""The API's docstrings quote no measured results.

A docstring says what the code does and why; a measured number (AP, a
speed or memory ratio) belongs in docs/ beside the command, commit and
machine that produced it (docs/benchmark.md, docs/results.md), where it is
re-rendered when a run changes. A docstring cannot be, so it would go stale.
"""
import ast
import glob
import os.path as osp
import re

import pytest

from helpers import ROOT

# What a quoted result looks like: a number next to AP/AR, a speed factor,
# a percentage that compares. Arithmetic of settings (``512 x 0.25``) and
# a method's parameters (``95 % interval``) do not match.
RESULT = re.compile(
    r'\d[\d.]*\s?(points? of\s)?\b(m?AP|AR)\b'
    r'|(?<![a-z])(m?AP|AR)(@[\d.:]+)?\b\s?'
    r'(of|=|:|is|was|by|drops to|rises to)?\s?[+-]?\d'
    r'|\d[\d.]*\s?(x|×)\s?(faster|slower|the|as|of|more|less)\b'
    r'|\d[\d.]*\s?%\s?(faster|slower|higher|lower|more|less|better|worse|'
    r'overhead|gain|drop|to the step|of the step)'
    r'|\b(faster|slower|gains?|drops?|costs?)\b[^.\n]{0,20}?\d[\d.]*\s?'
    r'(x|×|%|AP)', re.I)


def docstrings(path: str):
    """``(name, docstring)`` of the module, its classes and functions."""
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef,
                             ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node)
            if doc:
                yield getattr(node, 'name', '<module>'), doc


@pytest.mark.parametrize('text', [
    'OHEM gains 3.1 AP on the raccoon photos.',
    'bbox_mAP 0.412 on COCO val.',
    'The head is 1.4x the step time of RandomSampler.',
    'It costs 12 % more memory.',
    'Mining adds 30% to the step.',
    'about 2x faster than the sampler',
])
def test_the_pattern_flags_a_quoted_result(text):
    assert RESULT.search(text), text


@pytest.mark.parametrize('text', [
    "RandomSampler (512 x 0.25 = 128) gives it.",
    'a two-sided 95 % interval with the Student t',
    'about 10 % of the images have no object',
    'nms_thr=0.5, per image and label',
])
def test_the_pattern_spares_settings_and_methods(text):
    assert not RESULT.search(text), text


def test_no_docstring_of_the_package_quotes_a_result():
    package = osp.join(ROOT, 'mmdet_ohem')
    found = []
    for path in sorted(glob.glob(osp.join(package, '**', '*.py'),
                                 recursive=True)):
        if osp.sep + 'configs' + osp.sep in path:
            continue  # configs are no API; their READMEs hold results
        for name, doc in docstrings(path):
            for match in RESULT.finditer(doc):
                line = doc[max(0, match.start() - 30):match.end() + 30]
                found.append(f'{osp.relpath(path, ROOT)}:{name}: '
                             f'...{line}...')
    assert not found, ('docstrings quote measured results; move them to '
                       'docs/ (benchmark.md, results.md):\n' +
                       '\n'.join(found))

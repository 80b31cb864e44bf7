"""Every swap the docs show builds, with OHEM in every stage.

Each python block of README.md and docs/*.md that sets
``LossRankedOHEMSampler`` is written to a file outside the repository, read
with mmengine's ``Config.fromfile`` (which imports its ``custom_imports``)
and built with mmdet's ``MODELS``, as a user's own config would be. A block
that is not meant to build alone says so on its first line (``# fragment``)
and is skipped by name.
"""
import ast
import re
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional

import pytest
from mmdet.registry import HOOKS, MODELS
from mmdet.utils import register_all_modules
from mmengine.config import Config

from mmdet_ohem import LossRankedOHEMSampler, OHEMRoIHead

register_all_modules()

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / 'README.md', *sorted((REPO / 'docs').glob('*.md'))]
FENCE = re.compile(r'^```python\n(.*?)^```', re.M | re.S)
FRAGMENT = '# fragment'
CUSTOM_IMPORTS = dict(imports=['mmdet_ohem'], allow_failed_imports=False)
# mmdet's config folder of each family -> the samplers' `num`, stage by
# stage: each cascade stage keeps half of what the stage before it kept.
FAMILIES = {
    'faster_rcnn': [64],
    'mask_rcnn': [64],
    'cascade_rcnn': [256, 128, 64],
    'fast_rcnn': [64],
}
# What the docs must keep showing how to swap (issue 19, item 6).
REQUIRED = set(FAMILIES)


class Block(NamedTuple):
    """One python block of a doc that sets ``LossRankedOHEMSampler``."""

    where: str  # file:line of the block's first line
    source: str

    @property
    def fragment(self) -> bool:
        return self.source.lstrip().startswith(FRAGMENT)

    @property
    def family(self) -> Optional[str]:
        """mmdet's config folder the block inherits from, if any."""
        match = re.search(r"^_base_ = 'mmdet::(\w+)/", self.source, re.M)
        return match and match.group(1)

    def literal_keys(self, type_name: str) -> List[Dict]:
        """Literal keyword values of each ``dict(type=type_name, ...)``."""
        found = []
        for node in ast.walk(ast.parse(self.source)):
            if not (isinstance(node, ast.Call)
                    and getattr(node.func, 'id', None) == 'dict'):
                continue
            kws = {kw.arg: kw.value for kw in node.keywords if kw.arg}
            if getattr(kws.get('type'), 'value', None) != type_name:
                continue
            keys = {}
            for key, value in kws.items():
                if key in ('type', '_delete_'):
                    continue
                try:
                    keys[key] = ast.literal_eval(value)
                except ValueError:  # a name, e.g. a cascade stage's `num`
                    pass
            found.append(keys)
        return found


def _blocks() -> List[Block]:
    blocks = []
    for doc in DOCS:
        text = doc.read_text(encoding='utf-8')
        for match in FENCE.finditer(text):
            if 'LossRankedOHEMSampler' in match.group(1):
                line = text.count('\n', 0, match.start(1)) + 1
                blocks.append(
                    Block(f'{doc.relative_to(REPO)}:{line}', match.group(1)))
    return blocks


BLOCKS = _blocks()


def _load(source: str, tmp_path: Path) -> Config:
    # Outside the repository, as a user's config: nothing relative to it.
    path = tmp_path / 'user_config.py'
    path.write_text(source, encoding='utf-8')
    cfg = Config.fromfile(str(path))
    cfg.model.backbone.init_cfg = None  # nothing to download
    return cfg


def test_every_family_has_a_block_that_builds():
    families = [b.family for b in BLOCKS if not b.fragment]
    assert REQUIRED <= set(families), (
        f'no whole swap block for {sorted(REQUIRED - set(families))} in '
        'README.md or docs/*.md')
    assert len(families) >= len(REQUIRED)


@pytest.mark.parametrize('block', BLOCKS, ids=[b.where for b in BLOCKS])
def test_block_builds_with_ohem_in_every_stage(block, tmp_path):
    if block.fragment:
        pytest.skip(f'{block.where} is marked {FRAGMENT!r}')
    assert block.family in FAMILIES, (
        f"{block.where}: neither {FRAGMENT!r} nor `_base_ = 'mmdet::...'` "
        f'of {sorted(FAMILIES)}')
    cfg = _load(block.source, tmp_path)
    assert cfg.get('custom_imports') == CUSTOM_IMPORTS, block.where

    model = MODELS.build(cfg.model)
    samplers = model.roi_head.bbox_sampler
    samplers = samplers if isinstance(samplers, list) else [samplers]
    assert [type(s) for s in samplers] == [LossRankedOHEMSampler] * len(
        FAMILIES[block.family]), f'{block.where}: a stage without OHEM'
    assert [s.num for s in samplers] == FAMILIES[block.family]

    # One dict for every stage (a comprehension), or one per stage.
    written = block.literal_keys('LossRankedOHEMSampler')
    if len(written) == 1:
        written = written * len(samplers)
    assert len(written) == len(samplers), block.where
    for stage, (sampler, keys) in enumerate(zip(samplers, written)):
        assert keys, f'{block.where}: no literal sampler key'
        for key, value in keys.items():
            assert getattr(sampler, key) == value, (
                f'{block.where}, stage {stage}: {key}')

    heads = block.literal_keys('OHEMRoIHead')
    assert isinstance(model.roi_head, OHEMRoIHead) == bool(heads)
    for key, value in (heads[0] if heads else {}).items():
        assert getattr(model.roi_head, key) == value, f'{block.where}: {key}'
    for hook in cfg.get('custom_hooks', []):
        HOOKS.build(hook)


CASCADE = "_base_ = 'mmdet::cascade_rcnn/cascade-rcnn_r50_fpn_1x_coco.py'\n"


def test_faster_form_on_cascade_is_refused_by_mmengine(tmp_path):
    """Why the cascade block restates the list (docs/swaps.md)."""
    with pytest.raises(TypeError, match='rcnn is a dict in the child config'):
        _load(
            CASCADE + "model = dict(train_cfg=dict(rcnn=dict(sampler=dict("
            "type='LossRankedOHEMSampler', num=64))))\n", tmp_path)


def test_dict_per_cascade_stage_drops_the_assigners(tmp_path):
    """A list of sampler-only dicts replaces the stages whole."""
    cfg = _load(
        CASCADE + "model = dict(train_cfg=dict(rcnn=[dict(sampler=dict("
        "type='LossRankedOHEMSampler', num=n)) for n in (256, 128, 64)]))\n",
        tmp_path)
    with pytest.raises(AttributeError, match='assigner'):
        MODELS.build(cfg.model)

"""The shipped configs: layout, metafile, and one mining setting.

Every config in configs/ loads and builds; none has the file name of a
config mmdet ships; configs/ohem/metafile.yml lists every config of
configs/ohem/, and its results and README's are rendered from
docs/results/; every config with "ohem" in its name mines as
configs/_base_/ohem_mining.py except for the keys it states; the code's
defaults agree with that fragment.
"""
import dataclasses
import glob
import inspect
import math
import os.path as osp
import re

import mmdet
import pytest
import yaml
from mmdet.registry import MODELS
from mmengine.config import Config

import mmdet_ohem.testing
from mmdet_ohem import LossRankedOHEMSampler, mining
from helpers import load_tool

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG_DIR = osp.join(ROOT, 'configs')
FRAGMENT = osp.join(CONFIG_DIR, '_base_', 'ohem_mining.py')
# The fragment is no config of its own (no model): the others inherit it.
CONFIGS = sorted(
    p for p in glob.glob(osp.join(CONFIG_DIR, '**', '*.py'), recursive=True)
    if osp.dirname(p) != osp.dirname(FRAGMENT))
METAFILE = osp.join(CONFIG_DIR, 'ohem', 'metafile.yml')
SETS = ('hard_negatives', 'raccoon', 'bccd', 'cards')


def rel(path: str) -> str:
    return osp.relpath(path, CONFIG_DIR)


def test_configs_exist():
    names = {rel(c) for c in CONFIGS}
    assert {
        'faster_rcnn_ohem.py',
        'ohem/faster-rcnn_r50_fpn_loss-ranked-ohem_1x_coco.py',
        'ohem/faster-rcnn_r50_fpn_loss-ranked-ohem-paper_1x_coco.py',
        'ohem/fast-rcnn_r50_fpn_loss-ranked-ohem_1x_coco.py',
        'ohem/mask-rcnn_r50_fpn_loss-ranked-ohem_1x_coco.py',
        'ohem/cascade-rcnn_r50_fpn_loss-ranked-ohem_1x_coco.py',
        'benchmarks/hard_negatives/rpn_r18-tiny_fpn_hard-negatives.py',
        'benchmarks/hard_negatives/'
        'fast-rcnn_r18-tiny_fpn_ohem_hard-negatives.py',
    } <= names
    for set_name in SETS:
        tag = set_name.replace('_', '-')
        for variant in VARIANTS + SWEEP:
            assert (f'benchmarks/{set_name}/'
                    f'faster-rcnn_r18-tiny_fpn_{variant}_{tag}.py') in names


def test_no_config_is_named_as_one_of_mmdets():
    """A user comparing ours with mmdet's from one folder (work_dirs are
    named after the config) must not get both in one work dir."""
    mmdet_configs = osp.join(osp.dirname(mmdet.__file__), '.mim', 'configs')
    theirs = {osp.basename(p) for p in glob.glob(
        osp.join(mmdet_configs, '**', '*.py'), recursive=True)}
    assert 'faster-rcnn_r50_fpn_ohem_1x_coco.py' in theirs  # the walk works
    ours = {osp.basename(p) for p in glob.glob(
        osp.join(CONFIG_DIR, '**', '*.py'), recursive=True)}
    assert len(ours) > 20
    assert ours & theirs == set()


@pytest.mark.parametrize('path', CONFIGS, ids=rel)
def test_config_loads_and_builds(path):
    cfg = Config.fromfile(path)
    assert cfg.custom_imports == dict(imports=['mmdet_ohem'],
                                      allow_failed_imports=False)
    model = MODELS.build(cfg.model)
    if cfg.model.type == 'RPN':  # stage 1 of Fast R-CNN: no RoI head
        assert type(model.bbox_head).__name__ == 'RPNHead'
        assert cfg.test_evaluator.type == 'DumpProposals'
        return
    assert model.roi_head.with_bbox
    rcnn = cfg.model.train_cfg.rcnn
    samplers = [s.sampler for s in (rcnn if isinstance(rcnn, list) else
                                    [rcnn])]
    name = osp.basename(path)
    # Benchmark baselines name their sampler; everything else is ours.
    expected = {'random': 'RandomSampler', 'mmdet-ohem': 'OHEMSampler',
                '_base_': 'RandomSampler'}
    kind = next((v for k, v in expected.items() if k in name),
                'LossRankedOHEMSampler')
    for sampler in samplers:
        assert sampler.type == kind, name
        if kind == 'LossRankedOHEMSampler':
            assert sampler.pos_fraction is None


# The sampling variants of every benchmark set, as README's table lists.
VARIANTS = ('random', 'mmdet-ohem', 'ohem', 'ohem-perlabel', 'ohem-agnostic',
            'ohem-paper')
# The random share swept: the entry mining but random_fraction.
SWEEP = ('ohem-rand0.25', 'ohem-rand0.75')
# The entry mining after 100 iterations of random picks.
WARMUP = ('ohem-warmup', )


@pytest.mark.parametrize('set_name', SETS)
def test_benchmark_variants_differ_only_in_sampling(set_name):
    variants = sorted(glob.glob(osp.join(CONFIG_DIR, 'benchmarks', set_name,
                                         'faster-rcnn_*.py')))
    assert len(variants) == len(VARIANTS) + len(SWEEP) + len(WARMUP)
    dumps = []
    for path in variants:
        cfg = Config.fromfile(path).to_dict()
        sampler = cfg['model']['train_cfg']['rcnn'].pop('sampler')
        # The same RoI budget per image for every variant.
        assert sampler['num'] == cfg['rois_per_img'] == 64, path
        cfg['model']['roi_head'].pop('type')
        cfg.pop('custom_hooks', None)
        dumps.append(cfg)
    assert all(d == dumps[0] for d in dumps[1:])


@pytest.mark.parametrize('set_name', SETS)
@pytest.mark.parametrize('share', [0.25, 0.75])
def test_sweep_config_is_its_sets_ohem_config_but_the_random_share(
        set_name, share):
    folder = osp.join(CONFIG_DIR, 'benchmarks', set_name)
    tag = set_name.replace('_', '-')
    ohem, sweep = (
        Config.fromfile(osp.join(
            folder, f'faster-rcnn_r18-tiny_fpn_{variant}_{tag}.py')).to_dict()
        for variant in ('ohem', f'ohem-rand{share}'))
    sampler = sweep['model']['train_cfg']['rcnn']['sampler']
    assert sampler['random_fraction'] == share
    assert ohem['model']['train_cfg']['rcnn']['sampler'][
        'random_fraction'] == 0.5
    sampler['random_fraction'] = 0.5
    assert sweep == ohem


def test_one_line_swap_keeps_mmdets_head():
    """Only the sampler of mmdet's Faster R-CNN changes, to the fragment's
    (mmdet's RandomSampler leaves its neg_pos_ub, our default too)."""
    cfg = Config.fromfile(osp.join(
        CONFIG_DIR, 'ohem', 'faster-rcnn_r50_fpn_loss-ranked-ohem_1x_coco.py'))
    assert cfg.model.roi_head.type == 'StandardRoIHead'
    assert cfg.model.train_cfg.rcnn.sampler == dict(
        fragment_sampler(), neg_pos_ub=-1)


# ---------------------------------------------------------------- metafile


def load_metafile() -> dict:
    with open(METAFILE) as f:
        return yaml.safe_load(f)


def built_model(config: str):
    """The model of a config, without loading pretrained weights."""
    cfg = Config.fromfile(config)
    if 'backbone' in cfg.model:
        cfg.model.backbone.init_cfg = None
    return MODELS.build(cfg.model)


def test_metafile_follows_mmdets_schema():
    meta = load_metafile()
    collection, = meta['Collections']
    assert set(collection) == {'Name', 'Metadata', 'Paper', 'README', 'Code'}
    assert collection['Paper']['URL'] == 'https://arxiv.org/abs/1604.03540'
    assert osp.isfile(osp.join(ROOT, collection['README']))
    assert osp.isfile(osp.join(ROOT, collection['Code']['URL']))
    names = [m['Name'] for m in meta['Models']]
    assert len(names) == len(set(names))
    for model in meta['Models']:
        assert model['In Collection'] == collection['Name']
        assert {'Name', 'In Collection', 'Config', 'Metadata'} <= set(model)
        assert set(model) <= {'Name', 'In Collection', 'Config', 'Metadata',
                              'Results'}
        assert model['Name'] == osp.splitext(osp.basename(
            model['Config']))[0]
        for result in model.get('Results', []):
            assert set(result) == {'Task', 'Dataset', 'Metrics'}


def test_every_ohem_folder_config_is_in_the_metafile():
    listed = {m['Config'] for m in load_metafile()['Models']}
    folder = glob.glob(osp.join(CONFIG_DIR, 'ohem', '*.py'))
    assert len(folder) == 5
    for path in folder + [osp.join(CONFIG_DIR, 'faster_rcnn_ohem.py')]:
        assert f'configs/{rel(path)}' in listed


@pytest.mark.parametrize(
    'config', [m['Config'] for m in load_metafile()['Models']])
def test_metafile_config_exists_and_builds(config):
    path = osp.join(ROOT, config)
    assert osp.isfile(path), config
    model = built_model(path)
    assert model.roi_head.with_bbox


def test_readme_and_metafile_results_are_rendered():
    """configs/ohem/README.md's table and the metafile's Results are what
    tools/analysis/render_results.py renders from docs/results/ now: none
    copied by hand, none on COCO (no COCO run is committed)."""
    render = load_tool('analysis/render_results')
    args = render.parse_args([])
    rendered = render.targets(args)
    for path in (args.ohem_readme, args.metafile):
        with open(path) as f:
            assert f.read() == rendered[path], \
                f'{rel(path)} is stale: run tools/analysis/render_results.py'
    with_results = [m for m in load_metafile()['Models'] if 'Results' in m]
    assert with_results  # docs/results/ holds runs of the entry mining
    for model in with_results:
        assert model['Config'].startswith('configs/benchmarks/')
        result, = model['Results']
        assert set(result['Metrics']) == {'box AP'}
        assert math.isfinite(result['Metrics']['box AP'])


# ------------------------------------------------------ one mining setting

MINING_KEYS = ('num', 'pos_fraction', 'ranking', 'nms_thr', 'nms_per_label',
               'scope', 'random_fraction', 'add_gt_as_proposals',
               'warmup_iters')
# The sampler's own default of a key the fragment leaves out.
SAMPLER_DEFAULTS = dict(warmup_iters=0)


def fragment_sampler() -> dict:
    return Config.fromfile(FRAGMENT).ohem_sampler.to_dict()


def built_mining(path: str) -> list:
    """The mining keys of each sampler a config's model builds."""
    samplers = built_model(path).roi_head.bbox_sampler
    return [dict({k: getattr(s, k) for k in MINING_KEYS},
                 type=type(s).__name__)
            for s in (samplers if isinstance(samplers, list) else [samplers])]


# What each "ohem" config states, by the variant in its name; the rest is
# the fragment's.
STATED = {
    'ohem': {},
    'ohem-perlabel': dict(random_fraction=0.),
    'ohem-agnostic': dict(nms_per_label=False, random_fraction=0.),
    'ohem-paper': dict(nms_thr=0.7, nms_per_label=False, random_fraction=0.),
    'ohem-rand0.25': dict(random_fraction=0.25),
    'ohem-rand0.75': dict(random_fraction=0.75),
    'ohem-warmup': dict(warmup_iters=100),
}
STATED_R50 = {
    'faster-rcnn_r50_fpn_loss-ranked-ohem-paper_1x_coco.py':
    [dict(nms_thr=0.7, random_fraction=0.)],
    'cascade-rcnn_r50_fpn_loss-ranked-ohem_1x_coco.py':
    [dict(num=256), dict(num=128), dict(num=64)],
}
OHEM_CONFIGS = [
    p for p in CONFIGS
    if 'ohem' in osp.basename(p) and 'mmdet-ohem' not in osp.basename(p)
]


def stated_keys(path: str) -> list:
    name = osp.basename(path)
    if name in STATED_R50:
        return STATED_R50[name]
    match = re.search(r'_(ohem[a-z0-9.-]*)_[a-z-]+\.py$', name)
    return [STATED[match.group(1)] if match else {}]


def test_every_ohem_config_is_checked():
    # 4 sets: the 4 mining variants, the 2 sweep configs and the warm-up
    # each.
    assert len(OHEM_CONFIGS) == 6 + 4 * (4 + len(SWEEP) + len(WARMUP)) + 1
    # The old names of the variants are gone.
    assert not [p for p in OHEM_CONFIGS
                if re.search(r'nms0\.5|label0\.5|_ohem_1x', p)]


@pytest.mark.parametrize('path', OHEM_CONFIGS, ids=rel)
def test_ohem_configs_mine_as_the_fragment_but_what_they_state(path):
    fragment = fragment_sampler()
    assert fragment == dict(
        type='LossRankedOHEMSampler', num=64, pos_fraction=None,
        ranking='cls+bbox', nms_thr=0.5, nms_per_label=True,
        random_fraction=0.5, scope='image', add_gt_as_proposals=True)
    assert built_mining(path) == [
        dict(fragment, **{
            **SAMPLER_DEFAULTS,
            **stated
        }) for stated in stated_keys(path)
    ]


def test_only_the_fragment_writes_the_sampler_out():
    """A config states its changes, not the fragment's keys again."""
    for path in glob.glob(osp.join(CONFIG_DIR, '**', '*.py'),
                          recursive=True):
        with open(path) as f:
            text = f.read()
        sampler = "type='LossRankedOHEMSampler'" in text
        imports = re.search(r'^custom_imports\s*=', text, re.M) is not None
        assert sampler == imports == (path == FRAGMENT), rel(path)


def mining_defaults() -> dict:
    """The selection rule's defaults: its settings object's fields."""
    return {f.name: f.default for f in dataclasses.fields(
        mining.MiningSettings)}


def test_code_defaults_are_the_fragments_mining_by_loss():
    """One NMS IoU everywhere; left out of a config, every key mines as the
    fragment except the random share (the sampler alone picks by loss, as
    the paper: its docstring says so)."""
    fragment = fragment_sampler()
    sampler = inspect.signature(LossRankedOHEMSampler).parameters
    mining = mining_defaults()
    assert sampler['nms_thr'].default == mining['nms_thr'] == \
        mmdet_ohem.testing.ohem_sampler()['nms_thr'] == fragment['nms_thr']
    keys = ('pos_fraction', 'ranking', 'nms_per_label', 'scope',
            'add_gt_as_proposals')
    assert {k: sampler[k].default for k in keys} == {
        k: fragment[k] for k in keys}
    assert sampler['random_fraction'].default == \
        mining['random_fraction'] == 0.
    # Every mining key the sampler takes defaults as the rule does.
    for key, default in mining.items():
        if key in sampler and default is not dataclasses.MISSING:
            assert sampler[key].default == default, key
    doc = ' '.join(LossRankedOHEMSampler.__doc__.split())
    assert 'shipped configs use 0.5' in doc
    assert 'so that the sampler on its own mines as the paper does' in doc

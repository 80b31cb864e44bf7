"""tools/analysis/show_hard_examples.py and tools/data/show_dataset.py on
a tiny dataset."""
import os.path as osp

import mmcv
import numpy as np
import pytest
import torch
from mmdet.registry import MODELS
from mmdet.visualization import DetLocalVisualizer
from mmengine.config import Config

import mmdet_ohem as mmdet_ohem_pkg
from mmdet_ohem.benchmark.hard_negatives import generate
from mmdet_ohem.samplers import LossRankedOHEMSampler
from helpers import load_tool

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = osp.join(ROOT, 'configs', 'benchmarks', 'hard_negatives')
OHEM_CFG = osp.join(CONFIGS,
                    'faster-rcnn_r18-tiny_fpn_ohem_hard-negatives.py')
RANDOM_CFG = osp.join(CONFIGS,
                      'faster-rcnn_r18-tiny_fpn_random_hard-negatives.py')
MMDET_OHEM_CFG = osp.join(
    CONFIGS, 'faster-rcnn_r18-tiny_fpn_mmdet-ohem_hard-negatives.py')
IMG = 128  # generated size; the train pipeline resizes to 256
SCALE = 256


gallery = load_tool('analysis/show_hard_examples')
show_dataset = load_tool('data/show_dataset')


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('hard_negatives'))
    generate(root, n_train=4, n_val=1, img_size=IMG, seed=0)
    return root


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    """Random weights of the tiny benchmark model (all variants share it)."""
    cfg = Config.fromfile(OHEM_CFG)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    path = str(tmp_path_factory.mktemp('ckpt') / 'random.pth')
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, path)
    return path


@pytest.fixture
def spies(monkeypatch):
    """Record what the sampler selects and what the visualizer draws."""
    record = dict(select=[], bboxes=[], texts=[])
    pick = LossRankedOHEMSampler.pick
    draw_bboxes = DetLocalVisualizer.draw_bboxes
    draw_texts = DetLocalVisualizer.draw_texts

    def spy_pick(self, batch, losses):
        picked = pick(self, batch, losses)
        record['select'].append(
            (batch, losses, picked.results, dict(self.stats)))
        return picked

    def spy_bboxes(self, bboxes, edge_colors='g', **kwargs):
        record['bboxes'].append((np.asarray(bboxes), edge_colors, kwargs))
        return draw_bboxes(self, bboxes, edge_colors=edge_colors, **kwargs)

    def spy_texts(self, texts, *args, **kwargs):
        record['texts'].extend([texts] if isinstance(texts, str) else texts)
        return draw_texts(self, texts, *args, **kwargs)

    monkeypatch.setattr(LossRankedOHEMSampler, 'pick', spy_pick)
    monkeypatch.setattr(DetLocalVisualizer, 'draw_bboxes', spy_bboxes)
    monkeypatch.setattr(DetLocalVisualizer, 'draw_texts', spy_texts)
    return record


def picks_by_loss(batch, losses, picked):
    """The sampler's picks of one image with their losses, hardest first.

    Looked up position by position (not as the tool maps them), so a wrong
    mapping in the tool shows.
    """
    cands = batch[0].result
    order = torch.cat([cands.pos_inds, cands.neg_inds]).tolist()
    boxes, pick_losses, is_pos = [], [], []
    for inds, pos in ((picked.pos_inds, True), (picked.neg_inds, False)):
        for j in inds.tolist():
            boxes.append(batch[0].priors[j])
            pick_losses.append(float(losses[order.index(j)]))
            is_pos.append(pos)
    rank = np.argsort(-np.array(pick_losses), kind='stable')
    return (torch.stack(boxes).numpy()[rank],
            np.array(pick_losses)[rank], np.array(is_pos)[rank])


def test_gallery_draws_what_the_sampler_picks(data_root, checkpoint,
                                              tmp_path, spies):
    top = 5
    out_dir = str(tmp_path / 'gallery')
    results = gallery.main([
        OHEM_CFG, checkpoint, '--out-dir', out_dir, '--num-images', '2',
        '--top', str(top), '--cfg-options',
        f'train_dataloader.dataset.data_root={data_root}/'
    ])
    assert len(results) == len(spies['select']) == 2
    assert sum(len(r['gt_bboxes']) for r in results) > 0, 'no objects'
    calls = iter(spies['bboxes'])
    for result, (batch, losses, picked, stats) in zip(results,
                                                      spies['select']):
        png = mmcv.imread(result['out_file'])
        assert result['image'].shape[:2] == (SCALE, SCALE)
        assert png.shape == (SCALE, 2 * SCALE, 3)

        boxes, pick_losses, is_pos = picks_by_loss(batch, losses, picked[0])
        num = len(picked[0].pos_inds) + len(picked[0].neg_inds)
        assert len(result['bboxes']) == num == stats['num_picked'] > top
        assert int(result['is_pos'].sum()) == len(picked[0].pos_inds)
        assert result['is_pos'].float().mean().item() == pytest.approx(
            stats['fg_share'])
        assert result['losses'].mean().item() == pytest.approx(
            stats['loss_picked'], rel=1e-5)
        np.testing.assert_allclose(result['losses'].numpy(), pick_losses,
                                   rtol=1e-6)
        np.testing.assert_allclose(result['bboxes'].numpy(), boxes)
        assert (result['is_pos'].numpy() == is_pos).all()

        if len(result['gt_bboxes']):
            gt_boxes, gt_color, _ = next(calls)
            np.testing.assert_allclose(gt_boxes, result['gt_bboxes'])
            assert gt_color == gallery.GT_COLOR
        drawn, colors, _ = next(calls)
        # The top K, drawn lowest loss first so the hardest is on top.
        np.testing.assert_allclose(drawn[::-1], boxes[:top])
        assert colors[::-1] == [
            gallery.FG_COLOR if p else gallery.BG_COLOR for p in is_pos[:top]
        ]
        for loss in pick_losses[:top]:
            assert f'{loss:.2f}' in spies['texts']
    assert next(calls, None) is None


def test_gallery_switches_other_samplers_to_ohem(data_root, checkpoint,
                                                 tmp_path, capsys, spies):
    results = gallery.main([
        RANDOM_CFG, checkpoint, '--out-dir',
        str(tmp_path), '--num-images', '1', '--split', 'val', '--top', '3',
        '--cfg-options', f'val_dataloader.dataset.data_root={data_root}/'
    ])
    out = capsys.readouterr().out
    assert 'sampler RandomSampler -> LossRankedOHEMSampler' in out
    assert 'roi_head StandardRoIHead -> OHEMRoIHead' in out
    assert f'1 images written to {tmp_path}' in out
    assert results[0]['out_file'] in out
    assert 'val' in results[0]['img_path']
    assert len(spies['select']) == 1
    assert len(results[0]['bboxes']) == spies['select'][0][3]['num_picked']
    assert osp.isfile(results[0]['out_file'])


def test_ohem_model_cfg():
    model = Config.fromfile(OHEM_CFG).model
    same, changes = gallery.ohem_model_cfg(model)
    assert changes == [] and same == model

    random = Config.fromfile(RANDOM_CFG).model
    switched, changes = gallery.ohem_model_cfg(random)
    assert len(changes) == 2
    assert random.roi_head.type == 'StandardRoIHead', 'changed in place'
    assert switched.roi_head.type == 'OHEMRoIHead'
    shipped = Config.fromfile(
        mmdet_ohem_pkg.config_path('_base_/ohem_mining.py')).ohem_sampler
    assert switched.train_cfg.rcnn.sampler == dict(
        shipped, num=random.train_cfg.rcnn.sampler.num)  # config's budget

    mmdet_ohem = Config.fromfile(MMDET_OHEM_CFG).model
    switched, changes = gallery.ohem_model_cfg(mmdet_ohem)
    assert changes == [
        'roi_head StandardRoIHead -> OHEMRoIHead',
        'sampler OHEMSampler -> LossRankedOHEMSampler (shipped mining, '
        f'num={mmdet_ohem.train_cfg.rcnn.sampler.num})'
    ]

    model.roi_head.type = 'CascadeRoIHead'
    with pytest.raises(ValueError, match='CascadeRoIHead'):
        gallery.ohem_model_cfg(model)
    model.roi_head.type = 'OHEMRoIHead'
    model.train_cfg = None
    with pytest.raises(ValueError, match='train_cfg.rcnn'):
        gallery.ohem_model_cfg(model)


def test_gallery_missing_inputs(data_root, checkpoint, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        gallery.main([OHEM_CFG, str(tmp_path / 'nope.pth')])
    assert exit_.value.code == 1
    assert capsys.readouterr().err.strip() == (
        f'Checkpoint not found: {tmp_path}/nope.pth')

    with pytest.raises(SystemExit) as exit_:
        gallery.main([
            OHEM_CFG, checkpoint, '--cfg-options',
            f'train_dataloader.dataset.data_root={tmp_path}/'
        ])
    assert exit_.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith(f'Annotations not found at {tmp_path}/annotations/'
                          'instances_train.json')
    assert not (tmp_path / 'work_dirs').exists()


def test_show_dataset_grid(data_root, tmp_path, spies):
    out = str(tmp_path / 'docs' / 'grid.png')
    tile, gap = 64, 2
    grid = show_dataset.main([
        '--data-root', data_root, '--num', '4', '--cols', '3', '--tile',
        str(tile), '--gap',
        str(gap), '--hard-negatives', '--out', out
    ])
    png = mmcv.imread(out, channel_order='rgb')
    assert png.shape == (2 * tile + gap, 3 * tile + 2 * gap, 3)
    assert grid.shape == png.shape
    # Slots 5 and 6 are empty: background only; tile 1 is an image.
    assert (png[tile + gap:, tile + gap:] == 255).all()
    assert (png[:tile, :tile] != 255).any()

    data = show_dataset.load_split(data_root, 'train')
    images = data['images'][:4]
    gts = [np.array(i['bboxes']) for i in images if i['bboxes']]
    negs = [i['hard_negatives'] for i in images if i['hard_negatives']]
    assert gts and negs, 'pick a seed with objects and distractors'
    solid = [b for b, _, kw in spies['bboxes'] if kw.get('line_styles') !=
             '--']
    dashed = [b for b, _, kw in spies['bboxes'] if kw.get('line_styles') ==
              '--']
    scale = tile / IMG
    assert len(solid) == len(gts) and len(dashed) == len(negs)
    for drawn, boxes in zip(solid, gts):
        np.testing.assert_allclose(drawn, boxes * scale, rtol=1e-5)
    for drawn, kinds in zip(dashed, negs):
        assert len(drawn) == len(kinds)
        assert all(k[4] in spies['texts'] for k in kinds)
    names = [data['classes'][label] for i in images for label in i['labels']]
    assert all(name in spies['texts'] for name in names)


def test_show_dataset_missing(tmp_path, capsys):
    with pytest.raises(SystemExit):
        show_dataset.main(['--data-root', str(tmp_path), '--out',
                           str(tmp_path / 'x.png')])
    assert 'Annotations not found at' in capsys.readouterr().err
    assert not (tmp_path / 'x.png').exists()

"""Replayed RoI features: same values and gradients, no RoIAlign forward."""
import pytest
import torch
from mmcv.ops.roi_align import RoIAlignFunction
from mmdet.registry import MODELS

from mmdet_ohem.roi_heads.roi_feature_replay import (can_replay,
                                                     replay_roi_features)


def extractor(sampling_ratio=0, pool_mode='avg', type_='SingleRoIExtractor'):
    return MODELS.build(
        dict(
            type=type_,
            roi_layer=dict(type='RoIAlign', output_size=7,
                           sampling_ratio=sampling_ratio,
                           pool_mode=pool_mode),
            out_channels=8,
            featmap_strides=[4, 8, 16, 32]))


def inputs(seed=0):
    g = torch.Generator().manual_seed(seed)
    x = tuple(
        torch.randn(2, 8, 512 // s, 512 // s, generator=g).requires_grad_()
        for s in (4, 8, 16, 32))
    xy = torch.rand(40, 2, generator=g) * 40
    # Sizes from 8 to 470 px, so every FPN level gets RoIs.
    wh = 8 + torch.rand(40, 2, generator=g) * 462
    rois = torch.cat([(torch.arange(40) % 2).float()[:, None], xy,
                      (xy + wh).clamp(max=511)], 1)
    rois[:4, 3:] = rois[:4, 1:3] + torch.tensor([[20.], [150.], [300.],
                                                 [470.]])
    weight = torch.randn(40, 8, 7, 7, generator=g)
    return x, rois, weight


@pytest.mark.parametrize('sampling_ratio', [0, 2])
def test_replay_gives_the_same_features_and_gradients(sampling_ratio,
                                                      monkeypatch):
    layer = extractor(sampling_ratio)
    x, rois, weight = inputs()
    levels = layer.map_roi_levels(rois, 4)
    assert set(levels.tolist()) == {0, 1, 2, 3}

    plain = layer(x, rois)
    (plain * weight).sum().backward()
    expected = [f.grad.clone() for f in x]
    for f in x:
        f.grad = None

    with torch.no_grad():
        cached = layer(x, rois)
    forwards = []
    original = RoIAlignFunction.forward
    monkeypatch.setattr(RoIAlignFunction, 'forward', staticmethod(
        lambda *a, **k: forwards.append(1) or original(*a, **k)))
    with replay_roi_features(layer, rois, cached):
        replayed = layer(x, rois)
    assert forwards == []  # no RoIAlign forward ran
    assert replayed.requires_grad
    assert torch.equal(replayed, plain)
    (replayed * weight).sum().backward()
    for got, want in zip((f.grad for f in x), expected):
        assert torch.equal(got, want)
    # The real layers are back after the block.
    assert all(type(m).__name__ == 'RoIAlign' for m in layer.roi_layers)


def test_replay_refuses_other_rois():
    layer = extractor()
    x, rois, _ = inputs()
    with torch.no_grad():
        cached = layer(x, rois)
    with replay_roi_features(layer, rois, cached):
        with pytest.raises(RuntimeError, match='other RoIs'):
            layer(x, rois[:-1])
    assert all(type(m).__name__ == 'RoIAlign' for m in layer.roi_layers)


def test_can_replay_only_mmcv_avg_roi_align():
    assert can_replay(extractor())
    assert not can_replay(extractor(pool_mode='max'))
    generic = MODELS.build(
        dict(type='GenericRoIExtractor', aggregation='sum',
             roi_layer=dict(type='RoIAlign', output_size=7,
                            sampling_ratio=2),
             out_channels=8, featmap_strides=[4, 8, 16, 32]))
    assert not can_replay(generic)


def test_replay_hands_the_features_out_once():
    """The cache is released as it is used, so it is not held twice."""
    layer = extractor()
    x, rois, _ = inputs()
    with torch.no_grad():
        cached = layer(x, rois)
    with replay_roi_features(layer, rois, cached):
        layer(x, rois)
        assert all(m.cached is None for m in layer.roi_layers)
        with pytest.raises(RuntimeError, match='already handed out'):
            layer(x, rois)


def test_replayed_features_take_in_place_ops():
    """A single-level extractor returns the layer's output itself: it must
    be a fresh tensor, as RoIAlign's is, not a view of the cache."""
    layer = MODELS.build(
        dict(type='SingleRoIExtractor',
             roi_layer=dict(type='RoIAlign', output_size=7, sampling_ratio=0),
             out_channels=8, featmap_strides=[4]))
    x, rois, weight = inputs()
    x = x[:1]
    with torch.no_grad():
        cached = layer(x, rois)
    with replay_roi_features(layer, rois, cached):
        replayed = layer(x, rois)
    replayed.mul_(2)  # raised with a view
    (replayed * weight).sum().backward()
    assert x[0].grad is not None
    assert torch.equal(replayed, cached * 2)

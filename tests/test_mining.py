"""The selection rule of mmdet_ohem/mining.py on hand-made boxes."""
import pytest
import torch

from mmdet_ohem.mining import (MiningSettings, Selection, draw_random,
                               nms_by_loss, select_hard_examples)
from helpers import select

# Image 0: A and A' overlap at IoU ~0.95, C is apart. Image 1: D, E, F apart.
BOXES = torch.tensor([[0, 0, 10, 10], [0, 0, 10, 10.5], [20, 20, 30, 30],
                      [0, 0, 10, 10], [40, 40, 50, 50], [0, 0, 5, 5.]])
LOSSES = torch.tensor([.1, .9, .5, .8, .3, .7])
IMGS = torch.tensor([0, 0, 0, 1, 1, 1])


def test_highest_losses_win_per_image():
    kept = select(LOSSES, BOXES, IMGS, num=1, nms_thr=None)
    assert kept.tolist() == [1, 3]


def test_result_grouped_by_image_and_sorted_by_loss():
    kept = select(LOSSES, BOXES, IMGS, num=3, nms_thr=None)
    assert kept.tolist() == [1, 2, 0, 3, 5, 4]


@pytest.mark.parametrize('thr,expected', [(0.7, [1, 2]), (0.96, [1, 2, 0])])
def test_nms_drops_overlapping_lower_loss_roi_only_above_thr(thr, expected):
    # IoU(A, A') = 100 / 105 = 0.952: dropped at 0.7, kept at 0.96.
    kept = select(LOSSES, BOXES, IMGS, num=3, nms_thr=thr)
    assert kept[IMGS[kept] == 0].tolist() == expected


def test_nms_never_suppresses_across_images():
    # Box 3 in image 1 is identical to box 0 in image 0.
    kept = nms_by_loss(LOSSES, BOXES, IMGS, 0.5)
    assert 3 in kept.tolist() and 1 in kept.tolist()


def test_batch_scope_takes_hardest_anywhere():
    losses = torch.tensor([.9, .8, .7, .1, .2, .3])
    boxes = torch.tensor([[i * 20., 0, i * 20 + 10, 10] for i in range(6)])
    per_image = select(losses, boxes, IMGS, 2, nms_thr=None)
    batch = select(
        losses, boxes, IMGS, 2, nms_thr=None, scope='batch')
    assert per_image.tolist() == [0, 1, 5, 4]
    assert batch.tolist() == [0, 1, 2, 5]


def test_quota_caps_positives_and_fills_with_negatives():
    is_pos = torch.tensor([1, 1, 1, 1, 0, 0, 0, 0]).bool()
    losses = torch.tensor([.9, .8, .7, .6, .5, .4, .3, .2])
    boxes = torch.tensor([[i * 20., 0, i * 20 + 10, 10] for i in range(8)])
    imgs = torch.zeros(8, dtype=torch.long)
    kept = select(losses, boxes, imgs, 4, nms_thr=None,
                  is_pos=is_pos, pos_fraction=0.25)
    assert kept.tolist() == [0, 4, 5, 6]
    bounded = select(losses, boxes, imgs, 4, nms_thr=None,
                     is_pos=is_pos, pos_fraction=0.25,
                     neg_pos_ub=1)
    assert bounded.tolist() == [0, 4]


def test_no_quota_lets_negatives_take_everything():
    is_pos = torch.tensor([0, 0, 1]).bool()
    kept = select(
        torch.tensor([.9, .8, .1]), BOXES[[0, 2, 4]], IMGS[:3], 2,
        nms_thr=None, is_pos=is_pos)
    assert kept.tolist() == [0, 1]


def test_ties_broken_by_lower_index():
    boxes = torch.tensor([[i * 20., 0, i * 20 + 10, 10] for i in range(4)])
    kept = select(torch.ones(4), boxes,
                  torch.zeros(4, dtype=torch.long), 2)
    assert kept.tolist() == [0, 1]


def test_non_finite_losses_are_never_picked():
    losses = torch.tensor([float('nan'), float('inf'), .1, .2])
    boxes = torch.tensor([[i * 20., 0, i * 20 + 10, 10] for i in range(4)])
    kept = select(losses, boxes,
                  torch.zeros(4, dtype=torch.long), 4)
    assert kept.tolist() == [3, 2]


def test_short_and_empty_inputs():
    kept = select(LOSSES, BOXES, IMGS, num=100, nms_thr=None)
    assert sorted(kept.tolist()) == list(range(6))
    empty = select(torch.zeros(0), torch.zeros(0, 4),
                   torch.zeros(0, dtype=torch.long), 4)
    assert empty.numel() == 0 and empty.dtype == torch.long


def test_image_without_candidates_gets_none():
    kept = select(LOSSES[:3], BOXES[:3], torch.full((3, ), 2),
                  num=2, nms_thr=None, num_imgs=3)
    assert kept.tolist() == [1, 2]


@pytest.mark.parametrize('kwargs,key', [
    (dict(num=0), 'num'), (dict(num=2.5), 'num'),
    (dict(num=4, nms_thr=0.), 'nms_thr'), (dict(num=4, nms_thr=1.5),
                                           'nms_thr'),
    (dict(num=4, pos_fraction=1.5), 'pos_fraction'),
    (dict(num=4, scope='epoch'), 'scope'),
    (dict(num=4, neg_pos_ub=-3), 'neg_pos_ub'),
    (dict(num=4, random_fraction=1.), 'random_fraction'),
    (dict(num=4, random_fraction=-.1), 'random_fraction'),
    (dict(num=4, random_pos_fraction=1.5), 'random_pos_fraction'),
])
def test_bad_settings_name_the_key(kwargs, key):
    with pytest.raises(ValueError, match=f'`{key}`'):
        MiningSettings(**kwargs)


def test_settings_are_frozen_and_count_the_random_share():
    settings = MiningSettings(64, random_fraction=0.5)
    with pytest.raises(AttributeError):
        settings.num = 32
    assert settings.num_random == 32
    assert MiningSettings(5, random_fraction=0.5).num_random == 2  # round
    # At most num - 1: one pick is always by loss.
    assert MiningSettings(2, random_fraction=0.9).num_random == 1
    assert MiningSettings(64).num_random == 0


def test_selection_is_one_type_with_the_survivor_count():
    selection = select_hard_examples(
        LOSSES, BOXES, IMGS, MiningSettings(3, nms_thr=0.7,
                                            nms_per_label=False))
    assert isinstance(selection, Selection)
    # A' suppresses A (IoU 0.95): 5 of 6 survive the NMS.
    assert selection.num_after_nms == 5
    assert selection.kept.tolist() == [1, 2, 3, 5, 4]


def test_mismatched_shapes_are_rejected():
    with pytest.raises(ValueError, match='must match'):
        select(LOSSES, BOXES[:5], IMGS, 2)
    with pytest.raises(ValueError, match='is_pos'):
        select(LOSSES, BOXES, IMGS, 2, pos_fraction=0.25)
    with pytest.raises(ValueError, match='`nms_per_label`.*`labels`'):
        select_hard_examples(LOSSES, BOXES, IMGS, MiningSettings(2))


def test_nms_per_label_keeps_labels_apart():
    # A (loss .9, label 1) overlaps B (.8, background 3) and C (.7, label
    # 1): per image only A survives; per label A and B (bg never
    # suppressed by a positive), C still falls to A.
    boxes = torch.tensor([[0, 0, 10, 10], [0, 0, 10, 10.5], [0, 0, 10.5, 10],
                          [40, 40, 50, 50.]])
    losses = torch.tensor([.9, .8, .7, .1])
    imgs = torch.zeros(4, dtype=torch.long)
    labels = torch.tensor([1, 3, 1, 1])
    agnostic = select(losses, boxes, imgs, 4, nms_thr=0.5)
    per_label = select(losses, boxes, imgs, 4, nms_thr=0.5,
                       labels=labels)
    assert agnostic.tolist() == [0, 3]
    assert per_label.tolist() == [0, 1, 3]


def test_nms_per_label_never_crosses_images():
    # Same label, same box, two images: both kept.
    kept = select(
        torch.tensor([.9, .8]), torch.tensor([[0, 0, 10, 10.]]).repeat(2, 1),
        torch.tensor([0, 1]), 2, nms_thr=0.5, labels=torch.tensor([2, 2]))
    assert kept.tolist() == [0, 1]


def test_random_share_draws_from_what_the_hard_picks_left():
    # 8 RoIs, one image: 2 positives (0, 1) with low loss, 6 negatives.
    losses = torch.tensor([.1, .2, .9, .8, .7, .6, .5, .4])
    boxes = torch.tensor([[i * 20., 0, i * 20 + 10, 10] for i in range(8)])
    imgs = torch.zeros(8, dtype=torch.long)
    is_pos = torch.arange(8) < 2
    # Noise that ranks positive 0 first among the rest.
    noise = torch.tensor([.9, .1, .5, .5, .5, .5, .3, .2])
    kept = select(losses, boxes, imgs, 4, nms_thr=None,
                  is_pos=is_pos, random_fraction=0.5,
                  random_scores=noise)
    # Hard half: 2 and 3 (top losses). Random half, 1:3 quota of 2 picks
    # (int(2 * .25) = 0 positives): the best-noise negatives left, 4 and 5.
    assert sorted(kept.tolist()) == [2, 3, 4, 5]
    kept = select(losses, boxes, imgs, 4, nms_thr=None,
                  is_pos=is_pos, random_fraction=0.5,
                  random_scores=noise, random_pos_fraction=.5)
    # One positive allowed: 0 (noise .9), then the best negative left, 4.
    assert sorted(kept.tolist()) == [0, 2, 3, 4]
    assert kept.tolist() == [2, 3, 4, 0]  # loss order


def test_random_share_needs_scores_and_keeps_one_hard_pick():
    with pytest.raises(ValueError, match='random_scores'):
        select(LOSSES, BOXES, IMGS, 2, random_fraction=0.5,
               is_pos=IMGS > 0)
    with pytest.raises(ValueError, match='`random_fraction`.*`is_pos`'):
        select(LOSSES, BOXES, IMGS, 2, random_fraction=0.5,
               random_scores=torch.rand(6))
    # num=1: the one pick is by loss.
    kept = select(LOSSES, BOXES, IMGS, 1, nms_thr=None,
                  random_fraction=0.9, is_pos=IMGS > 0,
                  random_scores=torch.rand(6))
    assert kept.tolist() == [1, 3]


def test_random_share_is_a_step_of_its_own():
    # draw_random alone: the best noise among the finite-loss RoIs the hard
    # picks left (1 is kept, 2 has a NaN loss), within its quota (0
    # positives of 2 picks: RoI 0 is out).
    drawn = draw_random(torch.tensor([.9, .8, .7, .6, .5]),
                        kept=torch.tensor([1]),
                        finite=torch.tensor([True, True, False, True, True]),
                        img_inds=torch.zeros(5, dtype=torch.long),
                        is_pos=torch.tensor([True, False, False, False,
                                             False]),
                        num=2, num_imgs=1, scope='image', pos_fraction=0.)
    assert drawn.tolist() == [3, 4]

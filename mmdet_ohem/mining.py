"""Hard-example selection: the one place where OHEM decides what to keep.

Online Hard Example Mining, Shrivastava, Gupta and Girshick, CVPR 2016,
`arXiv:1604.03540 <https://arxiv.org/abs/1604.03540>`_: every candidate RoI
gets a loss from a readonly pass of the RoI head; near-duplicates are removed
by NMS with the loss as score (their losses are correlated, so they would
count the same mistake twice); then the hardest ``num`` per image are kept,
with no foreground quota. ``pos_fraction`` / ``neg_pos_ub`` reproduce
MMDetection's quota-keeping ``OHEMSampler`` for side-by-side runs; a
``random_fraction`` of the budget can be drawn at random instead
(:func:`draw_random`).

The rule, :func:`select_hard_examples`, reads its settings from one
:class:`MiningSettings` and returns one :class:`Selection`. Everything here
is a pure function of tensors, so the sampler and the tests call the same
code.
"""
from dataclasses import dataclass
from typing import NamedTuple, Optional

import torch
from mmcv.ops import nms
from torch import Tensor

SCOPES = ('image', 'batch')


@dataclass(frozen=True)
class MiningSettings:
    """What :func:`select_hard_examples` keeps, checked when built.

    Args:
        num (int): RoIs kept per image; with ``scope='batch'`` the batch
            keeps ``num * num_imgs`` RoIs wherever they are.
        nms_thr (float, optional): IoU threshold of the NMS by loss, in
            (0, 1]; ``None`` disables it.
        nms_per_label (bool): NMS per image *and per label* (background a
            label of its own), as in the authors' code
            (``get_ohem_minibatch``): a positive never suppresses a
            negative, and positives of one class only suppress each other.
            ``False``: per image, over all labels.
        scope (str): ``'image'`` (the paper) or ``'batch'``.
        pos_fraction (float, optional): At most ``int(num * pos_fraction)``
            positives per image (per batch with ``scope='batch'``), the rest
            negatives, as in MMDetection's samplers. ``None``: no quota.
        neg_pos_ub (float): With a quota, at most
            ``int(neg_pos_ub * max(1, num_pos))`` negatives; -1: no bound.
        random_fraction (float): Share of the budget drawn at random instead
            of by loss, in [0, 1) (see :func:`draw_random`). 0: all by loss.
        random_pos_fraction (float): Foreground quota of the random share,
            in [0, 1] (mmdet's ``RandomSampler`` default, 0.25).
    """
    num: int
    nms_thr: Optional[float] = 0.5
    nms_per_label: bool = True
    scope: str = 'image'
    pos_fraction: Optional[float] = None
    neg_pos_ub: float = -1
    random_fraction: float = 0.
    random_pos_fraction: float = 0.25

    def __post_init__(self) -> None:
        """Raise a ``ValueError`` naming the key of a bad setting."""
        num = self.num
        if isinstance(num, bool) or not isinstance(num, int) or num <= 0:
            raise ValueError(f'`num` must be a positive int, got {num!r}')
        if self.nms_thr is not None and not 0 < self.nms_thr <= 1:
            raise ValueError('`nms_thr` must be in (0, 1] or None (no NMS), '
                             f'got {self.nms_thr!r}')
        if self.pos_fraction is not None and not 0 <= self.pos_fraction <= 1:
            raise ValueError('`pos_fraction` must be in [0, 1] or None (no '
                             f'quota), got {self.pos_fraction!r}')
        if self.scope not in SCOPES:
            raise ValueError(
                f'`scope` must be one of {SCOPES}, got {self.scope!r}')
        if self.neg_pos_ub is None or (self.neg_pos_ub < 0
                                       and self.neg_pos_ub != -1):
            raise ValueError('`neg_pos_ub` must be >= 0 or -1 (no bound), '
                             f'got {self.neg_pos_ub!r}')
        if not 0 <= self.random_fraction < 1:
            raise ValueError('`random_fraction` must be in [0, 1), got '
                             f'{self.random_fraction!r}')
        if not 0 <= self.random_pos_fraction <= 1:
            raise ValueError('`random_pos_fraction` must be in [0, 1], got '
                             f'{self.random_pos_fraction!r}')

    @property
    def num_random(self) -> int:
        """Picks per image drawn at random: ``round(num *
        random_fraction)``, at most ``num - 1`` (one pick is by loss)."""
        return min(int(round(self.num * self.random_fraction)), self.num - 1)


class Selection(NamedTuple):
    """What :func:`select_hard_examples` kept."""
    kept: Tensor
    """Kept indices, grouped by image (ascending) and in descending loss
    order within an image; fewer than ``num`` per image when fewer
    candidates survive."""
    num_after_nms: int
    """Finite-loss candidates that survived the NMS (all of them without
    NMS)."""


def select_hard_examples(losses: Tensor,
                         boxes: Tensor,
                         img_inds: Tensor,
                         settings: MiningSettings,
                         num_imgs: Optional[int] = None,
                         is_pos: Optional[Tensor] = None,
                         labels: Optional[Tensor] = None,
                         random_scores: Optional[Tensor] = None) -> Selection:
    """Pick the hardest RoIs: NMS by loss, top-``num`` per image, then the
    random share.

    RoIs whose loss is NaN or infinite are never picked. The whole batch is
    selected with a fixed number of host syncs (the NMS kernel's and a few
    masks'), whatever the number of images.

    Args:
        losses (Tensor): Per-RoI ranking loss, shape (n, ).
        boxes (Tensor): RoIs as (x1, y1, x2, y2), shape (n, 4).
        img_inds (Tensor): Image index of each RoI, shape (n, ), int.
        settings (MiningSettings): What to keep.
        num_imgs (int, optional): Number of images in the batch; defaults to
            ``img_inds.max() + 1`` (a host sync: callers pass it).
        is_pos (Tensor, optional): Foreground mask, shape (n, ); needed with
            a ``pos_fraction`` or a random share.
        labels (Tensor, optional): Class label of each RoI, shape (n, ),
            int >= 0, background a label of its own; needed with
            ``nms_per_label`` (and an ``nms_thr``).
        random_scores (Tensor, optional): Shape (n, ), e.g. uniform noise:
            the order of the random share; needed with one.

    Returns:
        Selection: The kept indices into ``losses`` and the NMS survivors'
        count.
    """
    n = losses.numel()
    if not (boxes.shape == (n, 4) and img_inds.shape == (n, )):
        raise ValueError('losses (n,), boxes (n, 4) and img_inds (n,) must '
                         f'match; got {tuple(losses.shape)}, '
                         f'{tuple(boxes.shape)}, {tuple(img_inds.shape)}')
    num_random = settings.num_random
    needs = dict(
        is_pos=settings.pos_fraction is not None or num_random > 0,
        labels=settings.nms_per_label and settings.nms_thr is not None,
        random_scores=num_random > 0)
    given = dict(is_pos=is_pos, labels=labels, random_scores=random_scores)
    for key, needed in needs.items():
        if needed and (given[key] is None or given[key].shape != (n, )):
            raise ValueError(f'{_NEEDED_BY[key]} needs `{key}` of shape '
                             f'(n,) = ({n},)')
    img_inds = img_inds.long()
    if num_imgs is None:
        num_imgs = int(img_inds.max()) + 1 if n else 0

    finite = torch.isfinite(losses)
    # One NMS group per image, or per (image, label).
    groups = img_inds if not needs['labels'] else \
        labels.long() * max(num_imgs, 1) + img_inds
    order = _rank(losses, boxes, groups, finite, settings.nms_thr)
    kept = _top_k(order, losses, img_inds, settings.num - num_random,
                  num_imgs, settings.scope, is_pos, settings.pos_fraction,
                  settings.neg_pos_ub)
    if num_random:
        drawn = draw_random(random_scores, kept, finite, img_inds, is_pos,
                            num_random, num_imgs, settings.scope,
                            settings.random_pos_fraction)
        kept = torch.cat([kept, drawn])
        kept = kept[torch.sort(losses[kept], descending=True,
                               stable=True)[1]]
    # Group by image, keeping the loss order inside each image.
    kept = kept[torch.sort(img_inds[kept], stable=True)[1]]
    return Selection(kept, order.numel())


_NEEDED_BY = dict(is_pos='`pos_fraction` or `random_fraction`',
                  labels='`nms_per_label` (with an `nms_thr`)',
                  random_scores='`random_fraction`')


def draw_random(scores: Tensor, kept: Tensor, finite: Tensor,
                img_inds: Tensor, is_pos: Tensor, num: int, num_imgs: int,
                scope: str, pos_fraction: float) -> Tensor:
    """The random share: ``num`` more picks per image (per batch with
    ``scope='batch'``) among the finite-loss candidates not in ``kept``.

    They are the highest ``scores`` (uniform noise: a random draw) with a
    ``pos_fraction`` foreground quota and no NMS, as mmdet's
    ``RandomSampler`` draws.

    Args:
        scores (Tensor): Random score of each RoI, shape (n, ).
        kept (Tensor): Indices already picked by loss.
        finite (Tensor): Mask of the RoIs with a finite loss.
        img_inds (Tensor): Image index of each RoI, long.
        is_pos (Tensor): Foreground mask.
        num (int): Picks per image (per batch: ``num * num_imgs``).
        num_imgs (int): Number of images.
        scope (str): ``'image'`` or ``'batch'``.
        pos_fraction (float): Foreground quota of the draw.

    Returns:
        Tensor: The drawn indices, grouped by image, by descending score.
    """
    taken = torch.zeros_like(finite)
    taken[kept] = True
    scores = torch.where(taken | ~finite, scores.new_tensor(float('nan')),
                         scores)
    drawable = torch.isfinite(scores)
    order = _rank(scores, None, None, drawable, nms_thr=None)
    drawn = _top_k(order, scores, img_inds, num, num_imgs, scope, is_pos,
                   pos_fraction, neg_pos_ub=-1)
    return drawn[torch.sort(img_inds[drawn], stable=True)[1]]


def nms_by_loss(losses: Tensor,
                boxes: Tensor,
                groups: Tensor,
                nms_thr: float,
                ranked_last: Optional[Tensor] = None) -> Tensor:
    """Indices that survive NMS by loss within each group (image, label).

    Ties in the loss are broken by the lower index, so the result does not
    depend on the sort of the NMS kernel. All groups go through one mmcv
    ``nms`` call (one host sync per batch, not one per image): each group
    is moved to its own stretch of the plane, as mmcv's ``batched_nms``
    does, but after shifting every box to non-negative coordinates, since
    ``batched_nms``'s ``i * (max coordinate + 1)`` lets a box at negative
    coordinates overlap a box of the next group.

    Args:
        losses (Tensor): Per-RoI loss, shape (n, ).
        boxes (Tensor): RoIs as (x1, y1, x2, y2), shape (n, 4), finite.
        groups (Tensor): Group of each RoI (its image, or image and label),
            shape (n, ), int >= 0. RoIs of different groups never
            suppress each other.
        nms_thr (float): IoU above which the lower-loss RoI is dropped.
        ranked_last (Tensor, optional): Bool mask of RoIs to rank below
            every other one whatever their loss (non-finite losses): they
            cannot suppress any other RoI.

    Returns:
        Tensor: Surviving indices, in descending loss order (ties: ascending
        index; ``ranked_last`` ones at the end).
    """
    if losses.numel() == 0:
        return groups.new_zeros((0, ), dtype=torch.long)
    key = losses.float()
    if ranked_last is not None:
        key = torch.where(ranked_last, key.new_tensor(-float('inf')), key)
    order = torch.sort(key, descending=True, stable=True)[1]
    # Strictly decreasing scores encode the stable order for the kernel.
    rank_scores = torch.arange(
        order.numel(), 0, -1, dtype=torch.float32, device=losses.device)
    boxes = boxes[order].float()
    # Consecutive group ids keep the shifted coordinates small (float32).
    groups = torch.unique(groups[order], return_inverse=True)[1]
    low, high = boxes.min(), boxes.max()
    shift = groups.to(boxes.dtype) * (high - low + 1) - low
    _, kept = nms(boxes + shift[:, None], rank_scores, float(nms_thr))
    return order[kept.sort()[0]]


def _rank(losses: Tensor, boxes: Optional[Tensor], groups: Optional[Tensor],
          finite: Tensor, nms_thr: Optional[float]) -> Tensor:
    """Finite-loss RoIs by descending loss (ties: ascending index), NMS'd
    within ``groups`` when ``nms_thr`` is set."""
    if nms_thr is None:
        key = torch.where(finite, losses.float(),
                          losses.new_tensor(-float('inf'), dtype=torch.float))
        order = torch.sort(key, descending=True, stable=True)[1]
    else:
        order = nms_by_loss(losses, boxes, groups, nms_thr,
                            ranked_last=~finite)
    return order[finite[order]]  # non-finite ones sort last: cut them


def _top_k(order: Tensor, losses: Tensor, img_inds: Tensor, num: int,
           num_imgs: int, scope: str, is_pos: Optional[Tensor],
           pos_fraction: Optional[float], neg_pos_ub: float) -> Tensor:
    """The first ``num`` of ``order`` per image (per batch: ``num *
    num_imgs``), with an optional foreground quota (see
    :class:`MiningSettings`), in ``order``'s order or, with a quota, by
    descending ``losses``."""
    # Under 'batch' scope all images share one group and one budget.
    if scope == 'image':
        groups, num_groups, budget = img_inds[order], num_imgs, num
    else:
        groups = torch.zeros_like(order)
        num_groups, budget = 1, num * num_imgs

    if pos_fraction is None:
        k = torch.full((num_groups, ), budget, device=order.device)
        return _top_k_per_group(order, groups, k)
    pos = is_pos[order].bool()
    num_pos = torch.bincount(groups[pos], minlength=num_groups)
    k_pos = num_pos.clamp(max=int(budget * pos_fraction))
    k_neg = budget - k_pos
    if neg_pos_ub >= 0:
        # float64, as mmdet's int(neg_pos_ub * max(1, num_pos)): in
        # float32 the product can round up to the next integer.
        k_neg = k_neg.clamp(
            max=(neg_pos_ub * k_pos.clamp(min=1).double()).long())
    kept_pos = _top_k_per_group(order[pos], groups[pos], k_pos)
    kept_neg = _top_k_per_group(order[~pos], groups[~pos], k_neg)
    kept = torch.cat([kept_pos, kept_neg])
    # Back to descending-loss order before grouping by image.
    return kept[torch.sort(losses[kept], descending=True, stable=True)[1]]


def _top_k_per_group(order: Tensor, groups: Tensor, k: Tensor) -> Tensor:
    """Keep the first ``k[g]`` entries of each group, preserving order.

    Args:
        order (Tensor): Candidate indices, best first.
        groups (Tensor): Group id of each entry of ``order``.
        k (Tensor): Quota per group id.

    Returns:
        Tensor: The kept entries of ``order``, best first within a group.
    """
    if order.numel() == 0:
        return order
    # Rank within the group = position among the entries of the same group.
    by_group = torch.sort(groups, stable=True)[1]
    sorted_groups = groups[by_group]
    starts = torch.searchsorted(sorted_groups, sorted_groups, right=False)
    rank = torch.empty_like(by_group)
    rank[by_group] = torch.arange(
        order.numel(), device=order.device) - starts
    return order[rank < k[groups]]

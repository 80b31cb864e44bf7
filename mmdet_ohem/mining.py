"""Hard-example selection: the one place where OHEM decides what to keep.

Online Hard Example Mining, Shrivastava, Gupta and Girshick, CVPR 2016,
`arXiv:1604.03540 <https://arxiv.org/abs/1604.03540>`_: every candidate RoI
gets a loss from a readonly pass of the RoI head; near-duplicates are removed
by NMS with the loss as score (their losses are correlated, so they would
count the same mistake twice); then the hardest ``num`` per image are kept,
with no foreground quota. ``pos_fraction`` / ``neg_pos_ub`` reproduce
MMDetection's quota-keeping ``OHEMSampler`` for side-by-side runs.

Everything here is a pure function of tensors, so the sampler, the batch
RoI head and the tests all call the same code.
"""
from typing import Optional, Tuple, Union

import torch
from mmcv.ops import nms
from torch import Tensor

SCOPES = ('image', 'batch')


def check_mining_args(num: int,
                      nms_thr: Optional[float] = None,
                      pos_fraction: Optional[float] = None,
                      neg_pos_ub: float = -1,
                      scope: str = 'image') -> None:
    """Raise a ``ValueError`` naming the key of a bad mining setting.

    Args:
        num (int): RoIs kept per image (``scope='image'``) or per image on
            average (``scope='batch'``).
        nms_thr (float, optional): IoU threshold of the NMS by loss, in
            (0, 1]; ``None`` disables NMS.
        pos_fraction (float, optional): Upper bound of the foreground share,
            in [0, 1]; ``None`` ranks all candidates together (the paper).
        neg_pos_ub (float): Upper bound of negatives per positive; ``-1``
            means none. Only used with ``pos_fraction``.
        scope (str): ``'image'`` or ``'batch'``.
    """
    if isinstance(num, bool) or not isinstance(num, int) or num <= 0:
        raise ValueError(f'`num` must be a positive int, got {num!r}')
    if nms_thr is not None and not 0 < nms_thr <= 1:
        raise ValueError(
            f'`nms_thr` must be in (0, 1] or None (no NMS), got {nms_thr!r}')
    if pos_fraction is not None and not 0 <= pos_fraction <= 1:
        raise ValueError('`pos_fraction` must be in [0, 1] or None (no '
                         f'quota), got {pos_fraction!r}')
    if scope not in SCOPES:
        raise ValueError(f'`scope` must be one of {SCOPES}, got {scope!r}')
    if neg_pos_ub is None or (neg_pos_ub < 0 and neg_pos_ub != -1):
        raise ValueError(
            f'`neg_pos_ub` must be >= 0 or -1 (no bound), got {neg_pos_ub!r}')


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


def select_hard_examples(losses: Tensor,
                         boxes: Tensor,
                         img_inds: Tensor,
                         num: int,
                         nms_thr: Optional[float] = 0.5,
                         scope: str = 'image',
                         is_pos: Optional[Tensor] = None,
                         pos_fraction: Optional[float] = None,
                         neg_pos_ub: float = -1,
                         num_imgs: Optional[int] = None,
                         return_num_after_nms: bool = False,
                         labels: Optional[Tensor] = None,
                         random_fraction: float = 0.,
                         random_scores: Optional[Tensor] = None,
                         random_pos_fraction: float = 0.25
                         ) -> Union[Tensor, Tuple[Tensor, int]]:
    """Pick the hardest RoIs: NMS by loss, then top-``num`` per image.

    RoIs whose loss is NaN or infinite are never picked. The whole batch is
    selected with a fixed number of host syncs (the NMS kernel's and two
    masks'), whatever the number of images.

    Args:
        losses (Tensor): Per-RoI ranking loss, shape (n, ).
        boxes (Tensor): RoIs as (x1, y1, x2, y2), shape (n, 4).
        img_inds (Tensor): Image index of each RoI, shape (n, ), int.
        num (int): RoIs kept per image; with ``scope='batch'`` the batch
            keeps ``num * num_imgs`` RoIs wherever they are.
        nms_thr (float, optional): IoU threshold of the NMS by loss;
            ``None`` disables it. Defaults to 0.5, the sampler's.
        scope (str): ``'image'`` (the paper) or ``'batch'``.
        is_pos (Tensor, optional): Foreground mask, shape (n, ); needed only
            with ``pos_fraction``.
        pos_fraction (float, optional): At most ``int(num * pos_fraction)``
            positives per image (per batch with ``scope='batch'``), the rest
            negatives, as in MMDetection's samplers. ``None``: no quota.
        neg_pos_ub (float): With a quota, at most
            ``int(neg_pos_ub * max(1, num_pos))`` negatives; -1: no bound.
        num_imgs (int, optional): Number of images in the batch; defaults to
            ``img_inds.max() + 1`` (a host sync: callers pass it).
        return_num_after_nms (bool): Also return how many finite-loss
            candidates survived the NMS (all of them without NMS).
        labels (Tensor, optional): Class label of each RoI, shape (n, ),
            int >= 0, background a label of its own. Given, the NMS runs
            per image *and per label*, as in the authors' code
            (``get_ohem_minibatch``): a positive never suppresses a
            negative, and positives of one class only suppress each other.
            ``None``: per image, over all labels.
        random_fraction (float): Share of the budget drawn at random
            instead of by loss, in [0, 1): ``round(num * random_fraction)``
            of each image's picks (of the batch's with ``scope='batch'``)
            come from the candidates the hard picks left, ranked by
            ``random_scores`` with a ``random_pos_fraction`` quota and no
            NMS, as mmdet's ``RandomSampler`` draws (at most ``num - 1``:
            one pick is always by loss). 0: all by loss.
        random_scores (Tensor, optional): Shape (n, ), e.g. uniform noise;
            needed with ``random_fraction``.
        random_pos_fraction (float): Foreground quota of the random share.

    Returns:
        Tensor | tuple[Tensor, int]: Kept indices into ``losses``, grouped
        by image (ascending) and in descending loss order within an image.
        Fewer than ``num`` per image when fewer candidates survive; empty
        for empty input. With ``return_num_after_nms``, also the survivor
        count.
    """
    check_mining_args(num, nms_thr, pos_fraction, neg_pos_ub, scope)
    n = losses.numel()
    if not (boxes.shape == (n, 4) and img_inds.shape == (n, )):
        raise ValueError('losses (n,), boxes (n, 4) and img_inds (n,) must '
                         f'match; got {tuple(losses.shape)}, '
                         f'{tuple(boxes.shape)}, {tuple(img_inds.shape)}')
    if pos_fraction is not None and (is_pos is None
                                     or is_pos.shape != (n, )):
        raise ValueError('`pos_fraction` needs `is_pos` of shape (n,)')
    if not 0 <= random_fraction < 1:
        raise ValueError('`random_fraction` must be in [0, 1), got '
                         f'{random_fraction!r}')
    # At least one pick by loss, so the hard part's budget stays >= 1.
    num_random = min(int(round(num * random_fraction)), num - 1)
    if num_random:
        if random_scores is None or random_scores.shape != (n, ):
            raise ValueError('`random_fraction` needs `random_scores` of '
                             'shape (n,)')
        if is_pos is None or is_pos.shape != (n, ):
            raise ValueError('`random_fraction` needs `is_pos` of shape (n,)')
        num -= num_random
    if labels is not None and labels.shape != (n, ):
        raise ValueError('`labels` must have shape (n,), got '
                         f'{tuple(labels.shape)}')
    img_inds = img_inds.long()
    if num_imgs is None:
        num_imgs = int(img_inds.max()) + 1 if n else 0

    finite = torch.isfinite(losses)
    if nms_thr is None:
        key = torch.where(finite, losses.float(),
                          losses.new_tensor(-float('inf'), dtype=torch.float))
        order = torch.sort(key, descending=True, stable=True)[1]
    else:
        # One group per image, or per (image, label).
        groups = img_inds if labels is None else \
            labels.long() * max(num_imgs, 1) + img_inds
        order = nms_by_loss(losses, boxes, groups, nms_thr,
                            ranked_last=~finite)
    order = order[finite[order]]  # non-finite ones sort last: cut them

    # Under 'batch' scope all images share one group and one budget.
    if scope == 'image':
        groups, num_groups, budget = img_inds[order], num_imgs, num
    else:
        groups = torch.zeros_like(order)
        num_groups, budget = 1, num * num_imgs

    if pos_fraction is None:
        k = torch.full((num_groups, ), budget, device=order.device)
        kept = _top_k_per_group(order, groups, k)
    else:
        pos = is_pos[order].bool()
        num_pos = torch.bincount(groups[pos], minlength=num_groups)
        k_pos = num_pos.clamp(max=int(budget * pos_fraction))
        k_neg = budget - k_pos
        if neg_pos_ub >= 0:
            # float64, as mmdet's int(neg_pos_ub * max(1, num_pos)): in
            # float32 the product can round up to the next integer.
            k_neg = k_neg.clamp(max=(
                neg_pos_ub * k_pos.clamp(min=1).double()).long())
        kept_pos = _top_k_per_group(order[pos], groups[pos], k_pos)
        kept_neg = _top_k_per_group(order[~pos], groups[~pos], k_neg)
        kept = torch.cat([kept_pos, kept_neg])
        # Back to descending-loss order before grouping by image.
        kept = kept[torch.sort(
            losses[kept], descending=True, stable=True)[1]]
    if num_random:
        # The random share: among what the hard picks left (finite only).
        taken = torch.zeros(n, dtype=torch.bool, device=losses.device)
        taken[kept] = True
        scores = torch.where(taken | ~finite,
                             random_scores.new_tensor(float('nan')),
                             random_scores)
        drawn = select_hard_examples(
            scores, boxes, img_inds, num_random, nms_thr=None, scope=scope,
            is_pos=is_pos, pos_fraction=random_pos_fraction,
            num_imgs=num_imgs)
        kept = torch.cat([kept, drawn])
        kept = kept[torch.sort(losses[kept], descending=True,
                               stable=True)[1]]
    # Group by image, keeping the loss order inside each image.
    kept = kept[torch.sort(img_inds[kept], stable=True)[1]]
    return (kept, order.numel()) if return_num_after_nms else kept

"""Log what Online Hard Example Mining picks, every training iteration."""
import logging
from collections import deque
from typing import Deque, Dict, List, Optional, Tuple

from mmdet.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from ..utils.strict_keys import check_unknown_keys

DEFAULT_WINDOW = 10  # mmengine LogProcessor's default window_size


def find_mining_samplers(model) -> List[Tuple[str, object]]:
    """The RoI samplers of ``model`` that record mining ``stats``.

    Args:
        model (nn.Module): The detector, possibly in a model wrapper (DDP).

    Returns:
        list[tuple[str, object]]: ``(prefix, sampler)`` pairs; the prefix
        is ``''`` for a single sampler and ``'s{i}.'`` for stage ``i`` of a
        cascade (``roi_head.bbox_sampler`` a list). Samplers without a
        ``stats`` dict (``RandomSampler``, mmdet's ``OHEMSampler``) are
        left out.
    """
    if is_model_wrapper(model):
        model = model.module
    samplers = getattr(getattr(model, 'roi_head', None), 'bbox_sampler',
                       None)
    if samplers is None:
        return []
    if isinstance(samplers, (list, tuple)):
        named = [(f's{i}.', s) for i, s in enumerate(samplers)]
    else:
        named = [('', samplers)]
    return [(prefix, s) for prefix, s in named
            if isinstance(getattr(s, 'stats', None), dict)]


def proposal_nms_iou(model) -> Optional[float]:
    """IoU threshold of the RPN's NMS on training proposals, if any.

    ``train_cfg.rpn_proposal.nms.iou_threshold`` of a two-stage detector;
    ``None`` for Fast R-CNN (precomputed proposals) or other models.
    """
    if is_model_wrapper(model):
        model = model.module
    try:
        return float(model.train_cfg['rpn_proposal']['nms']['iou_threshold'])
    except (AttributeError, KeyError, TypeError, ValueError):
        return None


def redundant_loss_nms(model) -> List[Tuple[str, float, float]]:
    """Samplers whose NMS by loss cannot remove much.

    RPN proposals are already NMS-ed at ``rpn_proposal.nms.iou_threshold``;
    an NMS by loss at that IoU or above keeps nearly every candidate (gt
    boxes aside), so the picks pile onto clusters of near-duplicates. The
    paper's 0.7 was set for selective-search proposals, which are not.

    Returns:
        list[tuple[str, float, float]]: ``(stage prefix, nms_thr, RPN
        IoU)`` of each such sampler.
    """
    rpn_iou = proposal_nms_iou(model)
    if rpn_iou is None:
        return []
    return [(stage, s.nms_thr, rpn_iou)
            for stage, s in find_mining_samplers(model)
            if getattr(s, 'nms_thr', None) is not None
            and s.nms_thr >= rpn_iou]


@HOOKS.register_module()
class MiningStatsHook(Hook):
    """Push the OHEM samplers' ``stats`` to the message hub each iteration.

    After every training iteration, each ``LossRankedOHEMSampler`` of the
    model (``roi_head.bbox_sampler``; one per stage of a cascade) is read
    and its ``stats`` (``num_candidates``, ``num_picked``, ``fg_share``,
    ``loss_picked``, ``loss_all``) go to
    ``runner.message_hub.update_scalar('train/ohem/<key>')``, with
    ``s{i}.`` before the key for stage ``i`` of a cascade. The logger then
    shows them as ``ohem/<key>`` in the console, ``scalars.json`` and
    TensorBoard, next to the losses.

    mmengine's ``LogProcessor`` averages a scalar over its ``window_size``
    only if the name matches its ``mean_pattern`` (``loss``, ``time``...);
    any other one it logs as the last iteration's value. So ``loss_*`` are
    pushed as they are and averaged by the logger, while the others are
    pushed as the running mean of the last ``window_size`` iterations: all
    logged numbers are averages over the same window.

    Stats are per process (rank 0's are logged). The hook does nothing
    (and warns once) if the model has no such sampler, and skips a sampler
    whose stats were not renewed in the iteration. Before training it warns
    about an NMS by loss that the RPN's proposal NMS makes redundant (see
    :func:`redundant_loss_nms`).

    Args:
        prefix (str): Name prefix of the scalars after ``train/``.
        window_size (int, optional): Averaging window; ``None``: the
            runner's ``log_processor.window_size``.

    An unknown key (e.g. ``window``) raises a ``TypeError`` naming the
    closest valid one; ``priority`` is the runner's, as for every hook.
    """

    priority = 'NORMAL'  # before LoggerHook (BELOW_NORMAL) in the same iter

    def __init__(self, prefix: str = 'ohem',
                 window_size: Optional[int] = None,
                 **kwargs) -> None:
        # mmengine's Runner pops `priority` before building the hook; any
        # other key is a mistake that would otherwise be ignored.
        check_unknown_keys(MiningStatsHook, kwargs)
        if window_size is not None and window_size < 1:
            raise ValueError(f'window_size must be >= 1, got {window_size}')
        self.prefix = prefix
        self.window_size = window_size
        self._last_stats: Dict[str, dict] = {}
        self._windows: Dict[str, Deque[float]] = {}
        self._warned = False

    def before_train(self, runner) -> None:
        """Warn if the NMS by loss can remove next to nothing."""
        for stage, nms_thr, rpn_iou in redundant_loss_nms(runner.model):
            print_log(
                f'MiningStatsHook: {stage or ""}LossRankedOHEMSampler.'
                f'nms_thr={nms_thr} >= the RPN proposal NMS IoU {rpn_iou}: '
                'the proposals were already NMS-ed at that IoU (per FPN '
                'level), so the NMS by loss keeps almost all of them (watch '
                'ohem/num_after_nms) and the picks pile onto clusters of '
                'near-duplicates; consider an nms_thr below the RPN\'s '
                '(docs/benchmark.md).',
                logger='current',
                level=logging.WARNING)

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs: Optional[dict] = None) -> None:
        """Push the stats each sampler recorded in this iteration."""
        samplers = find_mining_samplers(runner.model)
        if not samplers:
            self._warn_once()
            return
        for stage, sampler in samplers:
            stats = sampler.stats
            # The sampler makes a new dict per call: the same object means
            # it did not run in this iteration.
            if not stats or stats is self._last_stats.get(stage):
                continue
            self._last_stats[stage] = stats
            for key, value in stats.items():
                try:
                    value = float(value)
                except (TypeError, ValueError):
                    continue
                self._update(runner, f'{self.prefix}/{stage}{key}', value)

    def _update(self, runner, name: str, value: float) -> None:
        """Push ``value`` as ``train/<name>``, windowed unless the logger
        averages ``name`` itself."""
        log_processor = getattr(runner, 'log_processor', None)
        pattern = getattr(log_processor, 'mean_pattern', None)
        if pattern is None or pattern.search(name) is None:
            window = self._windows.get(name)
            if window is None:
                window = self._windows[name] = deque(
                    maxlen=self._window_size(log_processor))
            window.append(value)
            value = sum(window) / len(window)
        runner.message_hub.update_scalar(f'train/{name}', value)

    def _window_size(self, log_processor) -> int:
        """The averaging window: ours, else the logger's, else 10."""
        if self.window_size is not None:
            return self.window_size
        size = getattr(log_processor, 'window_size', None)
        return size if isinstance(size, int) and size > 0 else DEFAULT_WINDOW

    def _warn_once(self) -> None:
        if self._warned:
            return
        self._warned = True
        print_log(
            'MiningStatsHook: the model has no RoI sampler with mining '
            'stats (roi_head.bbox_sampler of type LossRankedOHEMSampler); '
            'nothing to log.',
            logger='current',
            level=logging.WARNING)

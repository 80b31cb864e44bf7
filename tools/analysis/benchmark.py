"""Step time and peak memory of RoI sampling strategies, as ratios.

Every variant trains the same detector (same weights, same images, same
proposals) in this one process, and is reported as a ratio to mmdet's
``RandomSampler`` at its default 512 RoIs per image:

* ``random-512``: ``RandomSampler``, 512 per image, 1:3 fg:bg (baseline);
* ``floor-512``: ``random-512``'s step plus one forward of the bbox head,
  without autograd, over every candidate (proposals and gt boxes) of the
  batch: what any readonly pass must add to random sampling, so every
  OHEM variant also reads as a ratio to this floor;
* ``mmdet-ohem-512``: mmdet's ``OHEMSampler``, 512 per image;
* ``sampler-512``: our ``LossRankedOHEMSampler`` as a drop-in sampler;
* ``head-512``: our ``OHEMRoIHead``, 512 per image;
* ``head-128``: ``OHEMRoIHead``, 128 per image;
* ``head-64``: ``OHEMRoIHead`` at the paper's budget, 64 per image
  (B=128 over N=2 images).

A step is: backbone + neck, RPN loss, RoI head loss on fixed proposals,
backward, SGD update. Proposals are fixed (jittered gt boxes plus random
boxes) so every variant sees the same candidates; proposal NMS is left
out, being the same for all. Variants run round-robin, one step each per
round, and the median over rounds is kept, so a load change on the machine
hits all of them alike.

On CUDA (``--device cuda``) the clock is read after
``torch.cuda.synchronize()`` and peak memory is the growth of
``torch.cuda.max_memory_allocated`` during the step; ``--amp`` runs the
forward pass under float16 autocast, as ``--amp`` training does.

On the CPU, peak memory is the growth of the process's peak resident set
during a step above its size before the step (Linux ``/proc/self/clear_refs``
resets the peak). For it to follow tensors closely, glibc's mmap threshold
is fixed low (``mallopt``) and the heap trimmed before each step, so freed
tensors go back to the system instead of hiding in the allocator's free
lists (which made the ratio swing by 30% from run to run).

``--json`` writes the raw output (settings, every round's step time and
peak, the medians and ratios) with its provenance (commit, dirty tree,
versions, CPU, threads); ``tools/analysis/render_results.py`` renders the
docs' speed tables from ``docs/results/speed*.json``.

Example::

    python tools/analysis/benchmark.py --model r50 --num-proposals 1000
    python tools/analysis/benchmark.py --model small --threads 1 \
        --rounds 10 --json docs/results/speed.json
    python tools/analysis/benchmark.py --device cuda --amp --img-size 800 1333
"""
import argparse
import copy
import ctypes
import gc
import json
import logging
import os
import statistics
import sys
import time
from typing import Dict, List, Optional

# glibc: mallopt(M_MMAP_THRESHOLD, bytes); a fixed value also switches off
# the threshold's growth after large frees.
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 128 * 1024

VARIANTS = {
    'random-512': ('StandardRoIHead', dict(type='RandomSampler', num=512)),
    'floor-512': ('StandardRoIHead', dict(type='RandomSampler', num=512)),
    'mmdet-ohem-512': ('StandardRoIHead', dict(type='OHEMSampler',
                                               num=512)),
    'sampler-512': ('StandardRoIHead', dict(type='LossRankedOHEMSampler',
                                            num=512, pos_fraction=None)),
    'head-512': ('OHEMRoIHead', dict(type='LossRankedOHEMSampler', num=512,
                                     pos_fraction=None)),
    'head-128': ('OHEMRoIHead', dict(type='LossRankedOHEMSampler', num=128,
                                     pos_fraction=None)),
    'head-64': ('OHEMRoIHead', dict(type='LossRankedOHEMSampler', num=64,
                                    pos_fraction=None)),
}
# What a run compares unless --variants says otherwise.
DEFAULT_VARIANTS = [v for v in VARIANTS if v != 'head-64']
BASELINE = 'random-512'
# random-512 plus the readonly forward over every candidate (see train_step).
FLOOR = 'floor-512'
ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--model', choices=['r50', 'r18', 'small'], default='r50',
        help='r50: mmdet Faster R-CNN R50-FPN (no pretrained weights); '
        'r18: the ResNet-18-FPN test model (mmdet_ohem.testing); '
        'small: the embedded benchmark model '
        '(configs/benchmarks/hard_negatives)')
    parser.add_argument('--num-proposals', type=int, default=1000,
                        help='proposals per image (mmdet trains with 1000)')
    parser.add_argument('--num-imgs', type=int, default=2,
                        help='images per batch')
    parser.add_argument('--img-size', type=int, nargs='+', default=None,
                        help='image side, or height and width '
                        '(r50: 512, r18: 320, small: 256)')
    parser.add_argument('--device', default='cpu',
                        help='cpu or cuda (cuda:N)')
    parser.add_argument('--amp', action='store_true',
                        help='forward under float16 autocast')
    parser.add_argument('--num-gts', type=int, default=6,
                        help='gt boxes per image')
    parser.add_argument('--rounds', type=int, default=3,
                        help='timed steps per variant, after one warm-up')
    parser.add_argument('--variants', nargs='+', default=DEFAULT_VARIANTS,
                        choices=list(VARIANTS), help='what to compare')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch intra-op threads (default: torch\'s)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--json', help='also write the results here')
    args = parser.parse_args(argv)
    if args.num_proposals < 0 or args.num_imgs < 1 or args.rounds < 1:
        parser.error('--num-proposals >= 0, --num-imgs >= 1, --rounds >= 1')
    # Both references are measured in every run: ratios never mix
    # processes.
    args.variants = [BASELINE, FLOOR] + [
        v for v in args.variants if v not in (BASELINE, FLOOR)
    ]
    if args.img_size is None:
        args.img_size = [dict(r50=512, r18=320, small=256)[args.model]]
    if len(args.img_size) > 2:
        parser.error('--img-size takes a side, or a height and a width')
    args.img_size = tuple(args.img_size * (3 - len(args.img_size)))[:2]
    return args


def model_config(name: str, head_type: str, sampler: dict):
    """The detector config of ``name`` with the given RoI sampling."""
    from mmengine.config import Config

    from mmdet_ohem import config_path
    from mmdet_ohem.testing import BASES
    if name == 'r50':
        from mmengine.hub import get_config
        model = copy.deepcopy(get_config(BASES['faster']).model)
        model.backbone.init_cfg = None  # no download: random weights
    elif name == 'r18':
        from mmdet_ohem.testing import small_detector_cfg
        model = small_detector_cfg('faster')
    else:
        # A shipped config, found as any client finds it.
        model = Config.fromfile(
            config_path('benchmarks/hard_negatives/'
                        '_base_faster-rcnn_r18-tiny_fpn_hard-negatives.py'),
            import_custom_modules=False).model
    model.roi_head.type = head_type
    model.train_cfg.rcnn.sampler = dict(
        model.train_cfg.rcnn.sampler, **sampler)
    return model


def fixed_proposals(batch: dict, num: int, generator):
    """``num`` proposals per image: 20% jittered gt boxes, 80% random."""
    import torch
    from mmengine.structures import InstanceData
    results = []
    for sample in batch['data_samples']:
        h, w = sample.img_shape
        gt = sample.gt_instances.bboxes
        num_near = min(num // 5, num) if len(gt) else 0
        near = gt[torch.randint(len(gt), (num_near, ), generator=generator)] \
            if num_near else gt.new_zeros((0, 4))
        scale = (near[:, 2:] - near[:, :2]).repeat(1, 2).clamp(min=4)
        near = near + torch.randn(near.shape, generator=generator) * \
            scale * 0.15
        xy = torch.rand(num - num_near, 2, generator=generator) * \
            torch.tensor([w, h]) * 0.9
        wh = 8 + torch.rand(num - num_near, 2, generator=generator) * \
            min(h, w) * 0.5
        boxes = torch.cat([near, torch.cat([xy, xy + wh], 1)])
        boxes[:, 0::2] = boxes[:, 0::2].clamp(0, w)
        boxes[:, 1::2] = boxes[:, 1::2].clamp(0, h)
        boxes[:, 2:] = torch.maximum(boxes[:, 2:], boxes[:, :2] + 1)
        results.append(
            InstanceData(bboxes=boxes, scores=torch.rand(num,
                                                         generator=generator)))
    return results


def train_step(model,
               optimizer,
               batch: dict,
               proposals,
               amp: bool = False,
               floor: bool = False) -> float:
    """One training step on fixed proposals; returns the total loss.

    ``floor``: before the RoI head's loss, run its bbox head once without
    autograd over every candidate (each image's proposals and gt boxes, as
    ``add_gt_as_proposals``), the least a readonly pass can cost.
    """
    import torch
    from mmdet.structures.bbox import bbox2roi, get_box_tensor
    optimizer.zero_grad()
    device = batch['inputs'].device.type
    with torch.autocast(device, dtype=torch.float16, enabled=amp):
        x = model.extract_feat(batch['inputs'])
        losses = model.rpn_head.loss(x, batch['data_samples'])
        if floor:
            # Image by image, as OHEMRoIHead's readonly pass on the CPU:
            # one image's RoI features alive at a time.
            with torch.no_grad():
                for i, (sample, props) in enumerate(
                        zip(batch['data_samples'], proposals)):
                    rois = bbox2roi([
                        torch.cat([
                            get_box_tensor(sample.gt_instances.bboxes).to(
                                props.bboxes), props.bboxes
                        ])
                    ])
                    rois[:, 0] = i
                    model.roi_head._bbox_forward(x, rois)
        losses.update(
            model.roi_head.loss(x, copy.deepcopy(proposals),
                                batch['data_samples']))
        loss, _ = model.parse_losses(losses)
    loss.backward()
    optimizer.step()
    return loss.item()


def _glibc():
    """The C library when it is glibc (has ``malloc_trim``), else None."""
    try:
        libc = ctypes.CDLL(None)
        return libc if hasattr(libc, 'malloc_trim') else None
    except (OSError, TypeError):  # TypeError: CDLL(None) on Windows
        return None


class CudaPeakMemory:
    """Peak CUDA memory growth during a block; syncs before and after."""

    def __init__(self, device) -> None:
        import torch
        self.cuda, self.device = torch.cuda, device
        self.available = True
        self.peak_mb: Optional[float] = None

    def __enter__(self) -> 'CudaPeakMemory':
        gc.collect()
        self.cuda.synchronize(self.device)
        self.cuda.reset_peak_memory_stats(self.device)
        self._base = self.cuda.memory_allocated(self.device)
        return self

    def __exit__(self, *exc) -> None:
        self.cuda.synchronize(self.device)
        self.peak_mb = (self.cuda.max_memory_allocated(self.device) -
                        self._base) / 2**20


class PeakMemory:
    """Peak resident-set growth of this process during a block (Linux)."""

    libc = _glibc()

    @classmethod
    def follow_tensors(cls) -> None:
        """Make large frees return to the system (process-wide)."""
        if cls.libc is not None:
            cls.libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)

    def __init__(self) -> None:
        self.available = os.access('/proc/self/clear_refs', os.W_OK)
        self.peak_mb: Optional[float] = None

    @staticmethod
    def _status_kb(key: str) -> int:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith(key + ':'):
                    return int(line.split()[1])
        raise KeyError(key)

    def __enter__(self) -> 'PeakMemory':
        if self.available:
            gc.collect()
            if self.libc is not None:
                self.libc.malloc_trim(0)
            with open('/proc/self/clear_refs', 'w') as f:
                f.write('5')  # resets VmHWM (the peak) to the current RSS
            self._base = self._status_kb('VmRSS')
        return self

    def __exit__(self, *exc) -> None:
        if self.available:
            self.peak_mb = (self._status_kb('VmHWM') - self._base) / 1024


def run(args: argparse.Namespace) -> Dict[str, dict]:
    """Time every variant round-robin; return per-variant measurements."""
    import torch
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    from mmengine.logging import MMLogger

    import mmdet_ohem  # noqa: F401
    from mmdet_ohem.testing import demo_batch
    register_all_modules()
    # init_weights() logs every parameter's init at INFO level.
    MMLogger.get_current_instance().setLevel(logging.WARNING)
    if args.threads:
        torch.set_num_threads(args.threads)
    PeakMemory.follow_tensors()

    models, optimizers = {}, {}
    state = None
    for name in args.variants:
        torch.manual_seed(args.seed)
        model = MODELS.build(model_config(args.model, *VARIANTS[name]))
        if state is None:
            model.init_weights()
            state = copy.deepcopy(model.state_dict())
        model.load_state_dict(state)  # the same weights for everyone
        model.to(args.device).train()
        models[name] = model
        optimizers[name] = torch.optim.SGD(model.parameters(), lr=1e-4)
    any_model = next(iter(models.values()))
    torch.manual_seed(args.seed)
    num_classes = any_model.roi_head.bbox_head.num_classes
    batch = demo_batch(any_model, args.num_imgs, args.img_size,
                       num_items=[args.num_gts] * args.num_imgs,
                       num_classes=num_classes)
    proposals = [
        p.to(args.device) for p in fixed_proposals(
            batch, args.num_proposals,
            torch.Generator().manual_seed(args.seed))
    ]
    on_cuda = torch.device(args.device).type == 'cuda'

    times: Dict[str, List[float]] = {n: [] for n in args.variants}
    peaks: Dict[str, List[float]] = {n: [] for n in args.variants}
    losses: Dict[str, float] = {}
    for round_ in range(args.rounds + 1):  # round 0 warms up
        for name in args.variants:
            memory = CudaPeakMemory(args.device) if on_cuda else \
                PeakMemory()
            with memory:
                start = time.perf_counter()
                losses[name] = train_step(
                    models[name],
                    optimizers[name],
                    batch,
                    proposals,
                    args.amp,
                    floor=name == FLOOR)
                if on_cuda:
                    torch.cuda.synchronize(args.device)
                seconds = time.perf_counter() - start
            if round_ > 0:
                times[name].append(seconds)
                if memory.peak_mb is not None:
                    peaks[name].append(memory.peak_mb)
        print(f'round {round_}/{args.rounds} done', file=sys.stderr,
              flush=True)

    results = {}
    for name in args.variants:
        sampler = getattr(models[name].roi_head.bbox_sampler, 'stats', {})
        results[name] = dict(
            step_s=statistics.median(times[name]),
            steps_s=times[name],
            peaks_mb=peaks[name],
            peak_mb=max(peaks[name]) if peaks[name] else None,
            loss=losses[name],
            picked_per_img=sampler.get('num_picked'),
            after_nms_per_img=sampler.get('num_after_nms'))
    base, floor = results[BASELINE], results[FLOOR]
    for r in results.values():
        r['time_ratio'] = r['step_s'] / base['step_s']
        r['floor_ratio'] = r['step_s'] / floor['step_s']
        r['memory_ratio'] = (r['peak_mb'] / base['peak_mb']
                             if r['peak_mb'] and base['peak_mb'] else None)
    return results


def format_table(args: argparse.Namespace, results: Dict[str, dict]) -> str:
    """The results as a Markdown table."""
    lines = [
        f'model={args.model} device={args.device} amp={args.amp} '
        f'imgs={args.num_imgs}x{args.img_size[0]}x{args.img_size[1]}px '
        f'proposals/img={args.num_proposals} gts/img={args.num_gts} '
        f'rounds={args.rounds} (median), baseline={BASELINE}', '',
        '| variant | step (s) | time ratio | floor ratio | peak step mem (MB) '
        '| mem ratio | after NMS/img |', '|---|---|---|---|---|---|---|'
    ]
    for name, r in results.items():
        mem = f"{r['peak_mb']:.0f}" if r['peak_mb'] is not None else 'n/a'
        mem_ratio = f"{r['memory_ratio']:.2f}x" \
            if r['memory_ratio'] is not None else 'n/a'
        nms = f"{r['after_nms_per_img']:.0f}" \
            if r['after_nms_per_img'] is not None else '-'
        lines.append(f"| {name} | {r['step_s']:.2f} | "
                     f"{r['time_ratio']:.2f}x | {r['floor_ratio']:.2f}x | "
                     f'{mem} | {mem_ratio} | {nms} |')
    return '\n'.join(lines)


def main(argv: Optional[List[str]] = None) -> Dict[str, dict]:
    args = parse_args(argv)
    results = run(args)
    print(format_table(args, results))
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)),
                    exist_ok=True)
        with open(args.json, 'w') as f:
            json.dump(raw_output(args, results), f, indent=2)
            f.write('\n')
    return results


def raw_output(args: argparse.Namespace, results: Dict[str, dict]) -> dict:
    """What ``--json`` writes: settings, provenance and the results."""
    import torch

    from mmdet_ohem.utils.provenance import environment
    settings = {
        k: v
        for k, v in vars(args).items() if k not in ('json', 'threads')
    }
    return dict(
        schema=2,
        kind='speed',
        settings=settings,
        provenance=environment(ROOT, threads=torch.get_num_threads()),
        baseline=BASELINE,
        floor=FLOOR,
        results=results)


if __name__ == '__main__':
    main()

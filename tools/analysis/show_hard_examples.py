"""Draw the RoIs that OHEM picks: the hard-example gallery.

For the first N images of a config's train (or val) dataset, the detector
runs as its training step does: backbone, RPN proposals with
``train_cfg.rpn_proposal``, assignment with ``train_cfg.rcnn.assigner``,
then the miner of :class:`~mmdet_ohem.OHEMRoIHead` itself (``assign``,
``mine_hard_examples``: readonly pass, ranking, NMS, top-k), whose
``MiningResult`` holds the picks and their losses. Nothing is selected
here; the picture shows what training would pick for this checkpoint.

Each PNG holds the image twice, side by side: left the ground truth (green,
class names), right the K picks with the highest loss, foreground orange,
background blue, labelled with their ranking loss.

A checkpoint of any ``StandardRoIHead`` detector can be inspected: a config
that trains with another sampler (``RandomSampler``, mmdet's
``OHEMSampler``) is switched to ``OHEMRoIHead`` with the shipped mining
(``configs/_base_/ohem_mining.py``) and the config's RoI budget; the
weights are the same.

Example::

    CFG=configs/benchmarks/hard_negatives/faster-rcnn_r18-tiny_fpn_ohem_hard-negatives
    python tools/analysis/show_hard_examples.py $CFG.py \\
        work_dirs/faster-rcnn_r18-tiny_fpn_ohem_hard-negatives/iter_1200.pth \\
        --num-images 8 --top 20
"""
import argparse
import copy
import os
import os.path as osp
import sys
import warnings
from typing import List, Optional, Sequence, Tuple

import numpy as np
from mmengine.config import Config, ConfigDict, DictAction

# Registers mmdet-ohem's modules whatever the config imports; the package
# imports the stack with its known deprecations silenced.
from mmdet_ohem.utils import check_dataset_files
from mmdet_ohem.utils.noise import silence_import_noise

GT_COLOR = (0, 220, 0)  # RGB, as mmengine's Visualizer takes tuples
FG_COLOR = (255, 140, 0)
BG_COLOR = (30, 120, 255)
SPLITS = ('train', 'val')


def _mpl(color: Tuple[int, int, int], alpha: float = 0.7) -> dict:
    """A text background in ``color`` (matplotlib wants 0-1 floats)."""
    return dict(
        facecolor=tuple(c / 255 for c in color),
        alpha=alpha,
        pad=0.3,
        edgecolor='none')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        description='Draw the RoIs that OHEM picks for a checkpoint')
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--out-dir',
        help='where the PNGs go (default: work_dirs/<config '
        'name>/hard_examples)')
    parser.add_argument(
        '--num-images',
        type=int,
        default=8,
        help='the first N images of the dataset (default: %(default)s)')
    parser.add_argument(
        '--split',
        choices=SPLITS,
        default='train',
        help='dataset of `<split>_dataloader` (default: %(default)s); the '
        'train pipeline is used either way, without RandomFlip')
    parser.add_argument(
        '--top',
        type=int,
        default=16,
        help='draw the K picks with the highest loss (default: '
        '%(default)s); all picks are still counted')
    parser.add_argument(
        '--device', default='cpu', help='device (default: %(default)s)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override some settings in the used config, the key-value pair '
        'in xxx=yyy format will be merged into config file.')
    args = parser.parse_args(argv)
    if args.num_images < 1:
        parser.error('--num-images must be >= 1')
    if args.top < 0:
        parser.error('--top must be >= 0')
    return args


def check_inputs(cfg: Config, checkpoint: str, split: str) -> None:
    """Fail at once if the split's annotations or the checkpoint are missing.

    Raises:
        FileNotFoundError: Naming the missing file.
    """
    if '://' not in checkpoint and not osp.isfile(checkpoint):
        raise FileNotFoundError(f'Checkpoint not found: {checkpoint}')
    key = f'{split}_dataloader'
    if not cfg.get(key):
        raise FileNotFoundError(f'The config has no {key}')
    # Pass the one loader; data_check skips val_dataloader without val_cfg.
    check_dataset_files({key: cfg[key]}, loaders=(key, ))


def _inner_dataset(dataset_cfg: ConfigDict) -> ConfigDict:
    """The dataset config inside ``RepeatDataset``-style wrappers."""
    while 'dataset' in dataset_cfg:
        dataset_cfg = dataset_cfg.dataset
    if 'datasets' in dataset_cfg:
        raise ValueError('ConcatDataset is not supported; pick one of its '
                         'datasets with --cfg-options')
    return dataset_cfg


def gallery_dataset_cfg(cfg: Config, split: str) -> ConfigDict:
    """The split's dataset with the train pipeline minus ``RandomFlip``.

    The train pipeline gives the images and boxes at training scale (where
    the picks live); the flip is dropped so the picture matches the file.
    """
    dataset = copy.deepcopy(_inner_dataset(cfg[f'{split}_dataloader'].dataset))
    train = _inner_dataset(cfg.train_dataloader.dataset)
    dataset.pipeline = [
        t for t in copy.deepcopy(train.pipeline)
        if str(t.get('type', '')).split('.')[-1] != 'RandomFlip'
    ]
    return dataset


def ohem_model_cfg(model_cfg: ConfigDict) -> Tuple[ConfigDict, List[str]]:
    """Make the model mine like ``OHEMRoIHead`` + ``LossRankedOHEMSampler``.

    Args:
        model_cfg (ConfigDict): The config's ``model``.

    Returns:
        tuple[ConfigDict, list[str]]: The (copied) model config and what
        was changed, for the user.

    Raises:
        ValueError: If the RoI head is not a ``StandardRoIHead`` (cascade
            and other heads mine per stage; not drawn by this tool) or
            ``train_cfg.rcnn`` is missing.
    """
    from mmdet.models.roi_heads import StandardRoIHead
    from mmdet.registry import MODELS, TASK_UTILS

    from mmdet_ohem import config_path
    from mmdet_ohem.roi_heads import OHEMRoIHead
    from mmdet_ohem.samplers import LossRankedOHEMSampler

    model_cfg = copy.deepcopy(model_cfg)
    changes = []
    roi_head = model_cfg.get('roi_head')
    head_cls = MODELS.get(roi_head.type) if roi_head else None
    if head_cls is None or not issubclass(head_cls, StandardRoIHead):
        raise ValueError(
            'show_hard_examples draws the picks of a StandardRoIHead-style '
            f'RoI head, got {roi_head.type if roi_head else None!r}')
    if not issubclass(head_cls, OHEMRoIHead):
        if head_cls is not StandardRoIHead:
            raise ValueError(
                f'{head_cls.__name__} is not an OHEMRoIHead; only a plain '
                'StandardRoIHead can be switched to one')
        model_cfg.roi_head.type = 'OHEMRoIHead'
        changes.append(f'roi_head {head_cls.__name__} -> OHEMRoIHead')
    rcnn = (model_cfg.get('train_cfg') or {}).get('rcnn')
    if not rcnn or 'sampler' not in rcnn:
        raise ValueError('the model config has no train_cfg.rcnn.sampler; '
                         'mining needs the training assigner and budget')
    sampler_cls = TASK_UTILS.get(rcnn.sampler.type)
    if sampler_cls is None or not issubclass(sampler_cls,
                                             LossRankedOHEMSampler):
        old = rcnn.sampler.type
        # The config's budget, the shipped mining.
        shipped = Config.fromfile(config_path('_base_/ohem_mining.py'))
        rcnn.sampler = ConfigDict(shipped.ohem_sampler, num=rcnn.sampler.num)
        changes.append(f'sampler {old} -> LossRankedOHEMSampler (shipped '
                       f'mining, num={rcnn.sampler.num})')
    return model_cfg, changes


def mine_image(model, data: dict) -> dict:
    """Run one image through the training-time miner.

    Args:
        model (TwoStageDetector): A detector with an ``OHEMRoIHead``.
        data (dict): One pipeline output (``inputs``, ``data_samples``).

    Returns:
        dict: ``image`` (RGB, training scale), ``gt_bboxes``, ``gt_labels``,
        the picks ``bboxes``, ``losses`` and ``is_pos`` sorted by loss
        (descending), ``num_candidates`` and the sampler's ``stats``.
    """
    import torch
    from mmengine.dataset import pseudo_collate

    batch_data = model.data_preprocessor(pseudo_collate([data]), False)
    inputs, samples = batch_data['inputs'], batch_data['data_samples']
    head = model.roi_head
    with torch.no_grad():
        x = model.extract_feat(inputs)
        # TwoStageDetector.loss: the training proposals, not the test ones.
        proposal_cfg = model.train_cfg.get('rpn_proposal', model.test_cfg.rpn)
        rpn_results_list = model.rpn_head.predict_by_feat(
            *model.rpn_head(x),
            batch_img_metas=[s.metainfo for s in samples],
            cfg=proposal_cfg,
            rescale=False)
        # OHEMRoIHead.loss, up to the mining: the same candidates and picks.
        mined = head.mine_hard_examples(x,
                                        head.assign(rpn_results_list, samples))
    picked = mined.picks[0]
    bboxes = torch.cat([picked.pos_priors, picked.neg_priors]).cpu()
    pick_losses = mined.losses.cpu()
    is_pos = torch.arange(len(bboxes)) < len(picked.pos_inds)
    order = torch.sort(pick_losses, descending=True, stable=True)[1]

    h, w = samples[0].metainfo['img_shape']
    image = data['inputs'][:, :h, :w].permute(1, 2, 0).numpy()
    return dict(
        image=np.ascontiguousarray(image[..., ::-1]),  # BGR -> RGB
        img_path=samples[0].metainfo.get('img_path', ''),
        gt_bboxes=samples[0].gt_instances.bboxes.cpu(),
        gt_labels=samples[0].gt_instances.labels.cpu(),
        bboxes=bboxes[order],
        losses=pick_losses[order],
        is_pos=is_pos[order],
        num_candidates=int(mined.stats['num_candidates']),
        stats=mined.stats)


def draw_gallery_image(visualizer, result: dict, classes: Sequence[str],
                       top: int) -> np.ndarray:
    """Ground truth left, the ``top`` hardest picks right.

    Args:
        visualizer (DetLocalVisualizer): Draws the boxes and texts.
        result (dict): Output of :func:`mine_image`.
        classes (Sequence[str]): Class names of the labels.
        top (int): Picks to draw (the highest losses).

    Returns:
        np.ndarray: RGB image, twice as wide as ``result['image']``.
    """
    image = result['image']
    # Font in points; mmengine's default (>= 10) hides small images.
    font = max(6, int(min(image.shape[:2]) / 40))

    visualizer.set_image(image)
    gt = result['gt_bboxes']
    if len(gt):
        visualizer.draw_bboxes(gt, edge_colors=GT_COLOR, line_widths=2)
        visualizer.draw_texts(
            [classes[int(label)] for label in result['gt_labels']],
            gt[:, :2].numpy() + 2,
            colors='white',
            font_sizes=font,
            vertical_alignments='top',
            bboxes=_mpl(GT_COLOR))
    left = visualizer.get_image()

    visualizer.set_image(image)
    bboxes, losses = result['bboxes'][:top], result['losses'][:top]
    is_pos = result['is_pos'][:top]
    if len(bboxes):
        # Lowest loss first, so the hardest box is drawn on top.
        back = list(range(len(bboxes)))[::-1]
        colors = [FG_COLOR if is_pos[i] else BG_COLOR for i in back]
        visualizer.draw_bboxes(
            bboxes[back], edge_colors=colors, line_widths=1.5)
        visualizer.draw_texts([f'{float(losses[i]):.2f}' for i in back],
                              bboxes[back, :2].numpy() + 1,
                              colors='white',
                              font_sizes=font,
                              vertical_alignments='top',
                              bboxes=[_mpl(c) for c in colors])
    num = len(result['bboxes'])
    num_fg = int(result['is_pos'].sum())
    visualizer.draw_texts(
        f'top {len(bboxes)} of {num} picks ({num_fg} fg) '
        f'from {result["num_candidates"]} RoIs',
        np.array([2, image.shape[0] - 2]),
        colors='white',
        font_sizes=font,
        vertical_alignments='bottom',
        bboxes=_mpl((0, 0, 0), alpha=0.6))
    right = visualizer.get_image()
    return np.concatenate([left, right], axis=1)


def show_hard_examples(args: argparse.Namespace) -> List[dict]:
    """Mine and draw ``args.num_images`` images; see the module docstring.

    Returns:
        list[dict]: Per image, :func:`mine_image`'s result plus ``out_file``.
    """
    cfg = Config.fromfile(args.config, import_custom_modules=False)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    try:
        check_inputs(cfg, args.checkpoint, args.split)
    except FileNotFoundError as error:
        print(error, file=sys.stderr)
        sys.exit(1)

    import mmcv
    from mmdet.registry import DATASETS, MODELS
    from mmdet.utils import register_all_modules
    from mmdet.visualization import DetLocalVisualizer
    from mmengine.runner import load_checkpoint
    from mmengine.utils import import_modules_from_strings
    if cfg.get('custom_imports', None):
        import_modules_from_strings(**cfg['custom_imports'])
    register_all_modules()

    model_cfg, changes = ohem_model_cfg(cfg.model)
    for change in changes:
        print(f'inspecting with OHEM: {change}')
    model = MODELS.build(model_cfg)
    load_checkpoint(model, args.checkpoint, map_location='cpu')
    # Eval mode: BatchNorm uses its running statistics, so the picks of an
    # image do not depend on which images share its batch.
    model.to(args.device).eval()

    dataset = DATASETS.build(gallery_dataset_cfg(cfg, args.split))
    classes = dataset.metainfo['classes']
    out_dir = args.out_dir or osp.join(
        'work_dirs',
        osp.splitext(osp.basename(args.config))[0], 'hard_examples')
    os.makedirs(out_dir, exist_ok=True)
    visualizer = DetLocalVisualizer(name='show_hard_examples')

    results = []
    for i in range(min(args.num_images, len(dataset))):
        result = mine_image(model, dataset[i])
        name = osp.splitext(osp.basename(result['img_path']))[0] or str(i)
        result['out_file'] = osp.join(out_dir, f'{i:03d}_{name}.png')
        with warnings.catch_warnings():
            # mmengine flags x2 == width as out of bounds, but proposals
            # are clipped to exactly that.
            warnings.filterwarnings(
                'ignore',
                message='Warning: The .* is out of bounds',
                category=UserWarning)
            canvas = draw_gallery_image(visualizer, result, classes, args.top)
        mmcv.imwrite(canvas[..., ::-1], result['out_file'])
        stats = result['stats']
        print(f'{result["out_file"]}: {len(result["bboxes"])} picks of '
              f'{result["num_candidates"]} candidates, fg share '
              f'{stats["fg_share"]:.2f}, loss picked '
              f'{stats["loss_picked"]:.3f} vs all {stats["loss_all"]:.3f}')
        results.append(result)
    print(f'{len(results)} images written to {out_dir}')
    return results


def main(argv: Optional[Sequence[str]] = None) -> List[dict]:
    """Command line entry; returns :func:`show_hard_examples`' results."""
    # The stack's known deprecations, filtered for this whole run: a tool is
    # a program (the package filters only while it imports the stack).
    silence_import_noise()
    return show_hard_examples(parse_args(argv))


if __name__ == '__main__':
    main()

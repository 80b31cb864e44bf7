"""How confident a trained detector is on the val images, and how right.

For each work dir (a ``tools/train.py`` run with its dumped config and
``iter_*.pth``), runs inference on the first ``--num-images`` val images
and prints: detections per image with score > 0.5, the share of those that
hit a gt box (IoU > 0.5), hits among the top 5 detections per image, and
the mean top score per image. Used to explain an AP collapse (README).

Example::

    python tools/analysis/score_stats.py work_dirs/bench/random_seed0 \\
        work_dirs/bench/ohem_seed0
"""
import argparse
import glob
import os.path as osp
from typing import List, Optional


def newest(pattern: str) -> str:
    paths = sorted(glob.glob(pattern), key=osp.getmtime)
    if not paths:
        raise FileNotFoundError(f'nothing matches {pattern}')
    return paths[-1]


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('work_dirs', nargs='+')
    parser.add_argument('--num-images', type=int, default=20)
    args = parser.parse_args(argv)

    import torch
    from mmdet.apis import inference_detector, init_detector
    from mmdet.structures.bbox import bbox_overlaps
    from mmengine.fileio import load

    import mmdet_ohem  # noqa: F401
    print('| run | dets > 0.5 / img | of which hit a gt | top-5 hits / img '
          '| mean top score |\n|---|---|---|---|---|')
    for work_dir in args.work_dirs:
        config = newest(osp.join(work_dir, '*.py'))
        model = init_detector(config, newest(osp.join(work_dir, '*.pth')),
                              device='cpu')
        loader = model.cfg.val_dataloader.dataset
        ann = load(osp.join(loader.data_root, loader.ann_file))
        gts = {}
        for a in ann['annotations']:
            x, y, w, h = a['bbox']
            gts.setdefault(a['image_id'], []).append([x, y, x + w, y + h])
        confident = hits = top_hits = 0
        top_scores = []
        images = ann['images'][:args.num_images]
        for image in images:
            pred = inference_detector(
                model, osp.join(loader.data_root, loader.data_prefix.img,
                                image['file_name'])).pred_instances
            gt = torch.tensor(gts.get(image['id'], []),
                              dtype=torch.float32).reshape(-1, 4)
            iou = bbox_overlaps(pred.bboxes, gt).max(1)[0] if len(gt) and \
                len(pred) else pred.scores.new_zeros(len(pred))
            high = pred.scores > 0.5
            confident += int(high.sum())
            hits += int((high & (iou > 0.5)).sum())
            top = pred.scores.argsort(descending=True)[:5]
            top_hits += int((iou[top] > 0.5).sum())
            top_scores.append(float(pred.scores.max()) if len(pred) else 0.)
        n = len(images)
        print(f'| {work_dir} | {confident / n:.1f} | '
              f'{hits / max(confident, 1):.2f} | {top_hits / n:.2f} | '
              f'{sum(top_scores) / n:.2f} |')


if __name__ == '__main__':
    main()

"""Training learns: a tiny detector overfits four drawn images.

The embedded benchmark's model (ResNet-18 at 1/4 width + FPN) trains on
four fixed 128 px images of coloured squares and discs (class = colour),
with mmdet's RandomSampler and with our OHEM head. Both must cut the loss
by a clear factor and then find the objects of the images they trained
on (VOC AP at IoU 0.5), which the untrained model cannot.
"""
import os.path as osp

import numpy as np
import pytest
import torch
from mmdet.evaluation.functional import eval_map
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.structures import InstanceData

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
BASE = osp.join(ROOT, 'configs', 'benchmarks', 'hard_negatives',
                '_base_faster-rcnn_r18-tiny_fpn_hard-negatives.py')
SIZE = 128
COLOURS = ((255, 60, 60), (60, 255, 60), (60, 60, 255))
ITERS = 80


def drawn_batch(num_imgs=4, seed=0):
    """Images with 2-3 objects each, their boxes and labels."""
    g = np.random.default_rng(seed)
    images, samples = [], []
    yy, xx = np.mgrid[:SIZE, :SIZE]
    for _ in range(num_imgs):
        img = np.full((SIZE, SIZE, 3), 30, np.uint8)
        boxes, labels = [], []
        for _ in range(g.integers(2, 4)):
            side = int(g.integers(20, 44))
            x1, y1 = (int(v) for v in g.integers(0, SIZE - side, 2))
            label = int(g.integers(0, 3))
            if g.random() < 0.5:
                img[y1:y1 + side, x1:x1 + side] = COLOURS[label]
            else:
                r, cx, cy = side / 2, x1 + side / 2, y1 + side / 2
                img[(xx - cx)**2 + (yy - cy)**2 <= r * r] = COLOURS[label]
            boxes.append([x1, y1, x1 + side, y1 + side])
            labels.append(label)
        images.append(torch.from_numpy(img).permute(2, 0, 1))
        sample = DetDataSample(metainfo=dict(
            img_shape=(SIZE, SIZE), ori_shape=(SIZE, SIZE),
            scale_factor=(1., 1.), pad_shape=(SIZE, SIZE)))
        sample.gt_instances = InstanceData(
            bboxes=torch.tensor(boxes, dtype=torch.float32),
            labels=torch.tensor(labels))
        samples.append(sample)
    return dict(inputs=images, data_samples=samples)


def detector(ohem: bool):
    model = Config.fromfile(BASE).model
    model.roi_head.bbox_head.num_classes = 3
    model.train_cfg.rpn_proposal.max_per_img = 200
    if ohem:
        model.roi_head.type = 'OHEMRoIHead'
        model.train_cfg.rcnn.sampler = dict(
            type='LossRankedOHEMSampler', num=64, pos_fraction=None,
            nms_thr=0.5, nms_per_label=True)
    torch.manual_seed(0)
    model = MODELS.build(model)
    model.init_weights()
    return model


def box_ap(model, data) -> float:
    """VOC AP at IoU 0.5 on ``data``'s own images."""
    model.eval()
    with torch.no_grad():
        preds = model.test_step(data)
    model.train()
    dets = []
    for pred in preds:
        inst = pred.pred_instances
        boxes = torch.cat([inst.bboxes, inst.scores[:, None]], 1).numpy()
        dets.append([boxes[inst.labels.numpy() == c] for c in range(3)])
    annotations = [
        dict(bboxes=s.gt_instances.bboxes.numpy(),
             labels=s.gt_instances.labels.numpy())
        for s in data['data_samples']
    ]
    return eval_map(dets, annotations, iou_thr=0.5, logger='silent')[0]


@pytest.mark.parametrize('ohem', [False, True], ids=['random', 'ohem'])
def test_a_tiny_detector_overfits_four_images(ohem):
    data = drawn_batch()
    model = detector(ohem)
    assert box_ap(model, data) < 0.05  # untrained: finds nothing
    optim = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9)
    losses = []
    for _ in range(ITERS):
        batch = model.data_preprocessor(data, True)
        loss, _ = model.parse_losses(model(**batch, mode='loss'))
        optim.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10)
        optim.step()
        losses.append(float(loss))
    first, last = np.mean(losses[:5]), np.mean(losses[-5:])
    ap = box_ap(model, data)
    print(f'loss {first:.3f} -> {last:.3f}, AP {ap:.3f}')
    assert last < first / 3, (first, last)
    assert ap > 0.5

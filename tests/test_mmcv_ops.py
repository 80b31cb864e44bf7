"""mmcv's compiled CPU ops that OHEM relies on, on hand-made cases."""
import torch
from mmcv.ops import RoIAlign, batched_nms


def test_roi_align_forward_and_backward():
    feat = torch.arange(16.).view(1, 1, 4, 4).requires_grad_()
    # One bin per output cell, one sample at each bin's centre: the centres
    # of the four pixels of the top-left 2x2 block (aligned=True).
    roi_align = RoIAlign((2, 2), 1.0, sampling_ratio=1, aligned=True)
    out = roi_align(feat, torch.tensor([[0., 0., 0., 2., 2.]]))
    torch.testing.assert_close(out, torch.tensor([[[[0., 1.], [4., 5.]]]]))
    out.sum().backward()
    expected = torch.zeros(4, 4)
    expected[:2, :2] = 1
    torch.testing.assert_close(feat.grad[0, 0], expected)


def test_batched_nms_suppresses_within_groups_only():
    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.],
                          [0., 0., 10., 10.], [20., 20., 30., 30.]])
    scores = torch.tensor([.9, .8, .7, .6])
    groups = torch.tensor([0, 0, 1, 0])
    dets, keep = batched_nms(boxes, scores, groups,
                             dict(type='nms', iou_threshold=0.5))
    assert keep.tolist() == [0, 2, 3]
    torch.testing.assert_close(dets[:, 4], torch.tensor([.9, .7, .6]))

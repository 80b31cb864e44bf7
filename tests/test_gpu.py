"""OHEM on CUDA: float32 and autocast steps, gradients, picks, host syncs.

Marked ``gpu`` and skipped where torch sees no GPU (``make test`` runs
them wherever one is); ``tools/device_check.sh`` runs them on a GPU machine.
"""
import copy
import warnings

import pytest
import torch

from mmdet_ohem.testing import ohem_sampler
from helpers import batch_of, build_roi_head

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
]


def to_cuda(roi_batch):
    x, proposals, samples = roi_batch
    return (tuple(lvl.cuda() for lvl in x), [p.cuda() for p in proposals],
            [s.cuda() for s in samples])


def cuda_head(sampler, head_type='OHEMRoIHead'):
    return build_roi_head(sampler, head_type).cuda()


def step(head, batch, amp=False):
    """One loss + backward; the picks of the step."""
    x, proposals, samples = batch
    x = tuple(lvl.detach().clone().requires_grad_() for lvl in x)
    device = x[0].device.type
    with torch.autocast(device, dtype=torch.float16, enabled=amp):
        # What loss() trains on (the paper's mining draws nothing).
        picks = head.mine_hard_examples(
            x, head.assign(copy.deepcopy(proposals), samples)).picks
        losses = head.loss(x, copy.deepcopy(proposals), samples)
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    return x, losses, picks


@pytest.mark.parametrize('amp', [False, True], ids=['float32', 'amp'])
def test_a_cuda_step_trains_on_the_picks(roi_batch, amp):
    head = cuda_head(ohem_sampler(num=24))
    assert head.readonly_pass == 'auto'
    forwards = []
    forward = head._bbox_forward
    head._bbox_forward = lambda *a: forwards.append(1) or forward(*a)
    x, losses, picks = step(head, to_cuda(roi_batch), amp)
    # 'auto' on CUDA: one readonly pass per mining (step() mines, then
    # loss() mines again and trains): 3, where per image it would be 5.
    assert len(forwards) == 3
    assert [len(p.pos_inds) + len(p.neg_inds) for p in picks] == [24, 24]
    for key in ('loss_cls', 'loss_bbox'):
        assert torch.isfinite(losses[key]), key
    for lvl in x[:4]:
        assert torch.isfinite(lvl.grad).all() and lvl.grad.abs().sum() > 0
    for name, p in head.bbox_head.named_parameters():
        assert torch.isfinite(p.grad).all(), name


def test_cuda_gradients_equal_a_plain_head_fed_the_picks(roi_batch):
    sampler = ohem_sampler(num=24)
    head = cuda_head(sampler)
    batch = to_cuda(roi_batch)
    x, _, picks = step(head, batch)
    plain = cuda_head(sampler, 'StandardRoIHead')
    plain.load_state_dict(head.state_dict())
    x2 = tuple(lvl.detach().clone().requires_grad_() for lvl in x)
    losses = plain.bbox_loss(x2, picks)['loss_bbox']
    (losses['loss_cls'] + losses['loss_bbox']).backward()
    for a, b in zip(x, x2):
        torch.testing.assert_close(a.grad, b.grad)
    for (name, p), q in zip(head.named_parameters(), plain.parameters()):
        torch.testing.assert_close(p.grad, q.grad, msg=name)


@pytest.mark.parametrize('sampler', [
    ohem_sampler(num=24),
    ohem_sampler(num=24, nms_thr=0.5, nms_per_label=True)
])
def test_cuda_picks_equal_the_cpu_picks(roi_batch, sampler):
    _, _, cpu = step(build_roi_head(sampler, 'OHEMRoIHead'), roi_batch)
    _, _, gpu = step(cuda_head(sampler), to_cuda(roi_batch))
    for a, b in zip(cpu, gpu):
        assert torch.equal(a.pos_inds, b.pos_inds.cpu())
        assert torch.equal(a.neg_inds, b.neg_inds.cpu())


def real_syncs(head, num_imgs):
    """Syncs that CUDA itself reports during one step (sync debug mode),
    outside mmdet's assigner, which syncs per image under any sampler."""
    x, proposals, samples = to_cuda(batch_of(num_imgs))
    head.loss(x, copy.deepcopy(proposals), samples)  # warm-up
    torch.cuda.synchronize()
    assign = head.bbox_assigner.assign

    def unreported_assign(*args, **kwargs):
        torch.cuda.set_sync_debug_mode('default')
        try:
            return assign(*args, **kwargs)
        finally:
            torch.cuda.set_sync_debug_mode('warn')

    head.bbox_assigner.assign = unreported_assign
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        torch.cuda.set_sync_debug_mode('warn')
        try:
            head.loss(x, copy.deepcopy(proposals), samples)
        finally:
            torch.cuda.set_sync_debug_mode('default')
            head.bbox_assigner.assign = assign
    return sum('synchroniz' in str(w.message) for w in caught)


def test_cuda_syncs_do_not_grow_with_images():
    head = cuda_head(ohem_sampler(num=24))
    counts = [real_syncs(head, n) for n in (1, 2, 8)]
    print('CUDA syncs per step outside the assigner (1, 2, 8 images):',
          counts)
    assert counts[0] > 0  # the mode reports at all
    assert counts[0] == counts[1] == counts[2], counts

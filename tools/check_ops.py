"""Check that mmcv's compiled ops work: RoIAlign forward/backward and nms.

On the CPU always, and on CUDA whenever torch sees a GPU: an mmcv built
without CUDA kernels (``FORCE_CUDA=0``, or no ``nvcc`` at build time)
imports and passes the CPU check, then fails at the first CUDA step of a
training run. Exits 1 with one line that says what to rebuild.

    python tools/check_ops.py
"""
import sys

import torch

REBUILD = ('Rebuild mmcv: MMCV_WITH_OPS=1 {cuda}pip install '
           '--no-build-isolation --no-cache-dir --force-reinstall '
           'mmcv==2.1.0')


def check(device: str) -> None:
    """Run RoIAlign forward + backward and nms on ``device``; raise if off."""
    from mmcv.ops import RoIAlign, nms
    feat = torch.arange(16., device=device).view(1, 1, 4, 4)
    feat.requires_grad_()
    rois = torch.tensor([[0., 0., 0., 2., 2.]], device=device)
    out = RoIAlign((2, 2), 1.0, 0, aligned=False)(feat, rois)
    out.sum().backward()
    if not (torch.isfinite(out).all() and feat.grad is not None
            and feat.grad.abs().sum() > 0):
        raise RuntimeError(f'RoIAlign gave {out.tolist()}')
    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.],
                          [20., 20., 30., 30.]], device=device)
    _, keep = nms(boxes, torch.tensor([.9, .8, .7], device=device), 0.5)
    if keep.tolist() != [0, 2]:
        raise RuntimeError(f'nms kept {keep.tolist()}, not [0, 2]')


def main() -> int:
    devices = ['cpu'] + (['cuda'] if torch.cuda.is_available() else [])
    for device in devices:
        try:
            check(device)
        except Exception as exc:  # noqa: BLE001 - one clear line
            hint = REBUILD.format(
                cuda='FORCE_CUDA=1 ' if device == 'cuda' else '')
            print(
                f'FAILED: mmcv compiled ops do not work on {device}: '
                f'{exc!r}\n{hint}'
                + ('\n(mmcv needs nvcc and a CUDA torch at build time; '
                   'TORCH_CUDA_ARCH_LIST picks the GPUs.)'
                   if device == 'cuda' else ''),
                file=sys.stderr)
            return 1
    import mmcv
    import mmdet
    import mmengine
    print(f'OK: torch {torch.__version__} (CUDA {torch.version.cuda}), '
          f'mmcv {mmcv.__version__}, mmengine {mmengine.__version__}, '
          f'mmdet {mmdet.__version__}; ops checked on {", ".join(devices)}')
    return 0


if __name__ == '__main__':
    sys.exit(main())

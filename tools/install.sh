#!/usr/bin/env bash
# Installs the pinned mmdet-ohem stack into .venv (or the active virtualenv).
# Idempotent: every step checks what is already there and says what it does.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"

step() { printf '\n==> %s\n' "$*"; }

PY=${PYTHON:-python3}
if [ -n "${VIRTUAL_ENV:-}" ]; then
    step "using the active virtualenv $VIRTUAL_ENV"
    VENV="$VIRTUAL_ENV"
else
    VENV="$here/.venv"
    if [ -x "$VENV/bin/python" ]; then
        step "reusing $VENV"
    else
        step "creating $VENV"
        "$PY" -m venv "$VENV"
    fi
fi
VPY="$VENV/bin/python"
PIP=("$VPY" -m pip --disable-pip-version-check)

# The prebuilt mmcv wheel of our dev/CI machines; a user machine simply lacks it
# and pip builds mmcv from source instead (its wheel cache makes a rerun fast).
FIND_LINKS=()
if [ -d "$here/../shared/wheels" ]; then
    step "using prebuilt wheels from ../shared/wheels"
    FIND_LINKS=(--find-links "$here/../shared/wheels")
fi

have() { "$VPY" - "$@" <<'PYEOF' 2>/dev/null
import sys
from importlib.metadata import version, PackageNotFoundError
name, want = sys.argv[1], sys.argv[2]
try:
    got = version(name)
except PackageNotFoundError:
    sys.exit(1)
sys.exit(0 if want == '' or got.split('+')[0] == want else 1)
PYEOF
}

step "build tools: pip, setuptools>=77,<81 (torch 2.13 needs >=77; mmcv's setup.py needs pkg_resources), wheel, ninja"
"${PIP[@]}" install -q --upgrade 'pip>=23' 'setuptools>=77,<81' wheel ninja

if have torch ''; then
    step "keeping the installed torch $("$VPY" -c 'import torch; print(torch.__version__)')"
else
    step "installing torch==2.13.0 (CPU)"
    # TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu picks the CPU build
    # on a machine whose pip would otherwise fetch the CUDA one.
    "${PIP[@]}" install -q 'torch==2.13.0' ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"}
fi

step "installing mmengine==0.10.7, numpy, pycocotools"
"${PIP[@]}" install -q 'mmengine==0.10.7' 'numpy>=1.24' pycocotools

if have mmcv 2.1.0 && "$VPY" -c 'import mmcv.ops' 2>/dev/null; then
    step "mmcv 2.1.0 with compiled ops already installed"
else
    step "installing mmcv==2.1.0 with compiled ops (MMCV_WITH_OPS=1; a source build takes 10-40 min on 2 cores)"
    MMCV_WITH_OPS=1 FORCE_CUDA=0 "${PIP[@]}" install "${FIND_LINKS[@]}" \
        --no-build-isolation 'mmcv==2.1.0'
fi

step "installing mmdet==3.3.0 and mmdet-ohem (editable, with test extras)"
"${PIP[@]}" install -q "${FIND_LINKS[@]}" 'mmdet==3.3.0' -e ".[tests]"

step "checking mmcv.ops.RoIAlign and batched_nms on CPU"
"$VPY" - <<'PYEOF'
import sys
try:
    import torch
    from mmcv.ops import RoIAlign, batched_nms
    feat = torch.arange(16.).view(1, 1, 4, 4).requires_grad_()
    rois = torch.tensor([[0., 0., 0., 2., 2.]])
    out = RoIAlign((2, 2), 1.0, 0, aligned=False)(feat, rois)
    out.sum().backward()
    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.], [20., 20., 30., 30.]])
    _, keep = batched_nms(boxes, torch.tensor([.9, .8, .7]), torch.zeros(3, dtype=torch.long),
                          dict(type='nms', iou_threshold=0.5))
    assert keep.tolist() == [0, 2], keep
    assert torch.isfinite(out).all() and feat.grad is not None
except Exception as exc:  # noqa: BLE001 - report any failure in one clear line
    print(f'FAILED: mmcv compiled ops do not work on CPU: {exc!r}\n'
          'Rebuild mmcv: MMCV_WITH_OPS=1 pip install --no-build-isolation '
          '--no-cache-dir --force-reinstall mmcv==2.1.0', file=sys.stderr)
    sys.exit(1)
import mmcv, mmdet, mmengine
print(f'OK: torch {torch.__version__}, mmcv {mmcv.__version__}, '
      f'mmengine {mmengine.__version__}, mmdet {mmdet.__version__}')
PYEOF

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

# A folder of prebuilt wheels (an mmcv built for this torch, say) is pip's
# own knob: PIP_FIND_LINKS=/path/to/wheels. Without one pip builds mmcv from
# source (its wheel cache makes a rerun fast).
if [ -n "${PIP_FIND_LINKS:-}" ]; then
    step "pip also looks for wheels in PIP_FIND_LINKS=$PIP_FIND_LINKS"
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

# CUDA kernels are built where the torch has CUDA and nvcc is there (or
# FORCE_CUDA=1 says so); TORCH_CUDA_ARCH_LIST (e.g. "8.0;9.0") picks the
# GPUs to build for, else torch's default (the visible GPU's, or all).
TORCH_CUDA=$("$VPY" -c 'import torch; print(torch.version.cuda or "")')
if [ -z "${FORCE_CUDA:-}" ]; then
    if [ -n "$TORCH_CUDA" ] && command -v nvcc >/dev/null 2>&1; then
        FORCE_CUDA=1
    else
        FORCE_CUDA=0
    fi
fi
export FORCE_CUDA
if have mmcv 2.1.0 && "$VPY" -c 'import mmcv.ops' 2>/dev/null; then
    step "mmcv 2.1.0 with compiled ops already installed"
else
    step "installing mmcv==2.1.0 with compiled ops (MMCV_WITH_OPS=1, FORCE_CUDA=$FORCE_CUDA${TORCH_CUDA_ARCH_LIST:+, TORCH_CUDA_ARCH_LIST=$TORCH_CUDA_ARCH_LIST}; a source build takes 10-40 min on 2 cores)"
    MMCV_WITH_OPS=1 "${PIP[@]}" install --no-build-isolation \
        'mmcv==2.1.0'
fi

step "installing mmdet==3.3.0 and mmdet-ohem (editable, with test extras)"
"${PIP[@]}" install -q 'mmdet==3.3.0' -e ".[tests]"

step "checking mmcv.ops RoIAlign (forward, backward) and nms on CPU, and on CUDA where torch sees a GPU"
"$VPY" tools/check_ops.py

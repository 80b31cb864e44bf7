#!/usr/bin/env bash
# mmdet-ohem on a GPU machine without internet: install, build, test, measure.
#
#   tools/device_check.sh build   # 1: kit install + mmcv CUDA build (alone)
#   tools/device_check.sh run     # 2: ops check, GPU tests, benchmark, AMP run
#   tools/device_check.sh         # both
#   DRY_RUN=1 tools/device_check.sh   # on a CPU machine: every step but the
#                                     # CUDA build and the CUDA tests, small
#
# For a machine with one NVIDIA GPU, Python 3 with its own CUDA torch,
# torchvision, numpy, scipy, matplotlib and opencv, but not the OpenMMLab
# stack. What it lacks comes from a kit folder (KIT_DIR, default
# .device-kit/ in the repo, git-ignored): the wheels of mmengine, mmdet,
# pycocotools and their small requirements, setuptools<81, and mmcv's source
# tarball (see docs/gpu.md). Nothing is installed into the machine's Python:
# the wheels go to TARGET_DIR, which is put first on PYTHONPATH.
#
# The mmcv wheel built in step 1 is copied to OUT_DIR in parts of at most
# 15 MB (mmcv-*.whl.part-aa, -ab, ...); put them into KIT_DIR/mmcv-built/
# and the next run installs them instead of building. Results go to
# OUT_DIR/device_check.md (and the benchmark's JSON beside it).
#
# Knobs: PY (python3), KIT_DIR, TARGET_DIR (/tmp/mmdet-ohem-site), OUT_DIR
# (work_dirs/device_check), TORCH_CUDA_ARCH_LIST (the visible GPU's),
# MAX_JOBS (all cores), ITERS (200: training iterations of the AMP run).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PY=${PY:-python3}
DRY_RUN=${DRY_RUN:-0}
KIT_DIR=$(cd "${KIT_DIR:-.device-kit}" 2>/dev/null && pwd || true)
TARGET_DIR=${TARGET_DIR:-/tmp/mmdet-ohem-site}
OUT_DIR=${OUT_DIR:-work_dirs/device_check}
mkdir -p "$OUT_DIR" "$TARGET_DIR"
OUT_DIR=$(cd "$OUT_DIR" && pwd)
RESULTS=$OUT_DIR/device_check.md
export PYTHONPATH="$TARGET_DIR:$ROOT${PYTHONPATH:+:$PYTHONPATH}"
start=$(date +%s)
step() { printf '\n==> [%s s] %s\n' "$(( $(date +%s) - start ))" "$*"; }
note() { echo "$*" | tee -a "$RESULTS"; }

install_kit() {
    [ -n "$KIT_DIR" ] || { echo "no kit folder (KIT_DIR=${KIT_DIR:-.device-kit})" >&2; exit 1; }
    step "installing the kit's wheels into $TARGET_DIR"
    local whl
    for whl in "$KIT_DIR"/*.whl; do
        # One wheel at a time: a CPU dry run on another Python skips the
        # ones built for the GPU machine's Python (the stack is there).
        if ! "$PY" -m pip install -q --disable-pip-version-check --no-index \
                --no-deps --upgrade --target "$TARGET_DIR" "$whl" 2>/dev/null; then
            if [ "$DRY_RUN" = 1 ]; then
                echo "  skipped (not for this Python): $(basename "$whl")"
            else
                echo "cannot install $whl" >&2; exit 1
            fi
        fi
    done
}

install_or_build_mmcv() {
    if "$PY" - <<'PYEOF' 2>/dev/null; then
import mmcv, torch
from mmcv.ops import get_compiling_cuda_version
assert mmcv.__version__ == '2.1.0'
# Without CUDA kernels mmcv says 'not available'.
assert not torch.cuda.is_available() or \
    get_compiling_cuda_version() != 'not available'
PYEOF
        step "mmcv 2.1.0 with the ops this machine needs is installed"
        return
    fi
    local parts=("$KIT_DIR"/mmcv-built/mmcv-*.whl.part-*)
    if [ -e "${parts[0]}" ]; then
        local whl=${parts[0]%.part-*}
        whl=/tmp/$(basename "$whl")
        step "installing the mmcv wheel built before ($(basename "$whl"))"
        cat "${parts[@]}" >"$whl"
        "$PY" -m pip install -q --no-index --no-deps --upgrade \
            --target "$TARGET_DIR" "$whl"
        return
    fi
    if [ "$DRY_RUN" = 1 ]; then
        step "DRY_RUN: no mmcv CUDA build; using the installed mmcv"
        return
    fi
    step "building mmcv 2.1.0 with CUDA ops (MAX_JOBS=${MAX_JOBS:-$(nproc)}, TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-the visible GPU})"
    local src=/tmp/mmcv-src
    rm -rf "$src" && mkdir -p "$src"
    tar -xzf "$KIT_DIR"/mmcv-2.1.0.tar.gz -C "$src"
    local wheels=/tmp/mmcv-wheel
    rm -rf "$wheels"
    (cd "$src"/mmcv-2.1.0 && MMCV_WITH_OPS=1 FORCE_CUDA=1 \
        MAX_JOBS=${MAX_JOBS:-$(nproc)} \
        "$PY" -m pip wheel -q --no-deps --no-index --no-build-isolation \
        -w "$wheels" .)
    local whl
    whl=$(ls "$wheels"/mmcv-*.whl)
    "$PY" -m pip install -q --no-index --no-deps --upgrade \
        --target "$TARGET_DIR" "$whl"
    split -b 15m "$whl" "$OUT_DIR/$(basename "$whl").part-"
    step "kept $(basename "$whl") ($(du -h "$whl" | cut -f1)) in $OUT_DIR as parts"
}

run_checks() {
    : >"$RESULTS"
    note "# mmdet-ohem device check"
    note ""
    note "- machine: $("$PY" -c 'import torch; print(torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU only (DRY_RUN)")')"
    note "- python $("$PY" -c 'import sys; print(sys.version.split()[0])'), torch $("$PY" -c 'import torch; print(torch.__version__, "CUDA", torch.version.cuda)')"

    step "ops check (CPU, and CUDA where torch sees a GPU)"
    note "- ops: $("$PY" tools/check_ops.py 2>&1 | tail -n 2)"

    if [ "$DRY_RUN" = 1 ]; then
        step "DRY_RUN: GPU tests collected only"
        "$PY" -m pytest -q -m gpu tests/test_gpu.py --collect-only | tail -n 1
        note "- GPU tests: not run (DRY_RUN)"
    else
        step "GPU tests (tests/test_gpu.py) and the AMP tests"
        local log=$OUT_DIR/gpu_tests.log
        set +e
        "$PY" -m pytest -q -s -p no:cacheprovider tests/test_gpu.py \
            tests/test_amp.py 2>&1 | tee "$log"
        set -e
        note "- GPU tests: $(grep -E '(passed|failed)' "$log" | tail -n 1)"
        note "- $(grep -h 'CUDA syncs per step' "$log" | tail -n 1)"
    fi

    local device=cuda bench=(--model r50 --img-size 800 1333
        --num-proposals 1000 --rounds 5)
    if [ "$DRY_RUN" = 1 ]; then
        device=cpu bench=(--model small --img-size 128 --num-proposals 200
            --rounds 1)
    fi
    local amp
    for amp in "" "--amp"; do
        [ "$DRY_RUN" = 1 ] && [ -n "$amp" ] && continue  # CPU: fp32 only
        step "benchmark on $device ${amp:-float32}"
        local json=$OUT_DIR/bench_${device}${amp:+_amp}.json
        "$PY" tools/analysis/benchmark.py "${bench[@]}" --device "$device" $amp \
            --variants random-512 mmdet-ohem-512 head-512 head-64 \
            --json "$json" | tee -a "$RESULTS"
        note ""
    done

    local iters=${ITERS:-200}
    [ "$DRY_RUN" = 1 ] && iters=${ITERS:-4}
    step "embedded benchmark: $iters iterations of ours (NMS 0.5)"
    "$PY" tools/data/generate_hard_negatives.py --out data/hard_negatives
    local work=$OUT_DIR/train_amp cfg=configs/benchmarks/hard_negatives/faster-rcnn_r18-tiny_fpn_ohem-agnostic_hard-negatives.py
    local amp_flag=--amp
    [ "$DRY_RUN" = 1 ] && amp_flag=''  # mmengine's AMP wrapper wants a GPU
    rm -rf "$work"
    "$PY" tools/train.py "$cfg" --work-dir "$work" $amp_flag --cfg-options \
        train_cfg.max_iters="$iters" train_cfg.val_interval="$iters" \
        param_scheduler.1.end="$iters" default_hooks.checkpoint.interval="$iters" \
        "param_scheduler.1.milestones=[$((iters * 3 / 4)),$((iters * 9 / 10))]" \
        default_hooks.logger.interval=$(( iters < 50 ? 1 : 50 )) \
        train_dataloader.num_workers=2 >"$work.log" 2>&1 \
        || { tail -n 30 "$work.log"; exit 1; }
    note "- training ${amp_flag:-float32} $iters iterations: $(grep -Eo 'loss: [0-9.na]+' "$work.log" | tail -n 1), $(grep -Eo 'coco/bbox_mAP: [0-9.-]+' "$work.log" | tail -n 1)"
    step "done: $RESULTS"
}

case "${1:-all}" in
    build) install_kit; install_or_build_mmcv ;;
    run) install_kit; install_or_build_mmcv; run_checks ;;
    all) install_kit; install_or_build_mmcv; run_checks ;;
    *) echo "usage: $0 [build|run|all]" >&2; exit 2 ;;
esac

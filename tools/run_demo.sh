#!/usr/bin/env bash
# `make demo`: the embedded benchmark end to end, on CPU, in minutes.
#   1. generate the hard-negatives dataset (skipped when up to date);
#   2. train mmdet's RandomSampler baseline and our paper-mode OHEM for the
#      same short schedule, and evaluate each with CocoMetric;
#   3. print the side-by-side table and write work_dirs/demo/compare.png.
# PY, WORK (work dir root) and ITERS can be overridden from the environment.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
WORK=${WORK:-work_dirs/demo}
ITERS=${ITERS:-}
CONFIGS=configs/hard_negatives
start=$(date +%s)

step() { echo -e "\n==> [$(( $(date +%s) - start ))s] $*"; }

step 'generating the embedded dataset (data/hard_negatives)'
$PY tools/generate_hard_negatives.py --out data/hard_negatives

opts=()
if [ -n "$ITERS" ]; then
    # A shorter or longer schedule: milestones and evaluation follow.
    opts=(--cfg-options "train_cfg.max_iters=$ITERS"
          "train_cfg.val_interval=$ITERS"
          "param_scheduler.1.end=$ITERS"
          "param_scheduler.1.milestones=[$((ITERS * 3 / 4)),$((ITERS * 9 / 10))]"
          "default_hooks.checkpoint.interval=$ITERS")
fi
for variant in random ohem; do
    step "training + COCO eval: $variant (log: $WORK/$variant)"
    $PY tools/train.py "$CONFIGS/faster-rcnn_r18-tiny_fpn_${variant}_hard-negatives.py" \
        --work-dir "$WORK/$variant" "${opts[@]}"
done

step 'comparison'
$PY tools/compare.py "$WORK/random" "$WORK/ohem" --names random ohem \
    --out "$WORK/compare.png" | tee "$WORK/compare.md"
step "done: $WORK/compare.md and $WORK/compare.png"

#!/usr/bin/env bash
# `make demo`: the embedded benchmark end to end, on CPU.
#   1. generate the hard-negatives dataset (skipped when up to date);
#   2. train mmdet's RandomSampler baseline and our OHEM (NMS by loss at
#      0.5, see the config) for the
#      same schedule, side by side (one thread each), each evaluated with
#      CocoMetric at the end;
#   3. print the side-by-side table and write work_dirs/demo/compare.png.
# ITERS shortens or lengthens the schedule (milestones follow).
set -euo pipefail
cd "$(dirname "$0")/.."
export PY=${PY:-.venv/bin/python}
WORK=${WORK:-work_dirs/demo}
ITERS=${ITERS:-}
CONFIGS=configs/hard_negatives
start=$(date +%s)
step() { echo -e "\n==> [$(( $(date +%s) - start )) s] $*"; }

step 'generating the embedded dataset (data/hard_negatives)'
$PY tools/generate_hard_negatives.py --out data/hard_negatives

opts=''
if [ -n "$ITERS" ]; then
    opts="train_cfg.max_iters=$ITERS train_cfg.val_interval=$ITERS"
    opts+=" param_scheduler.1.end=$ITERS default_hooks.checkpoint.interval=$ITERS"
    opts+=" param_scheduler.1.milestones=[$((ITERS * 3 / 4)),$((ITERS * 9 / 10))]"
fi
step "training random and ohem side by side (logs: $WORK/*.log)"
rm -rf "$WORK"
bash tools/train_parallel.sh \
    "random=$CONFIGS/faster-rcnn_r18-tiny_fpn_random_hard-negatives.py:$WORK/random:$opts" \
    "ohem=$CONFIGS/faster-rcnn_r18-tiny_fpn_ohem-nms0.5_hard-negatives.py:$WORK/ohem:$opts"

step 'comparison'
$PY tools/compare.py "$WORK/random" "$WORK/ohem" --names random ohem \
    --out "$WORK/compare.png" | tee "$WORK/compare.md"
step "done: $WORK/compare.md and $WORK/compare.png"

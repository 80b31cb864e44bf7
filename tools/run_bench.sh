#!/usr/bin/env bash
# `make bench`: regenerate the numbers of README's "Results" section into
# docs/results.md and docs/results.png.
#   1. the three sampling variants of the embedded benchmark x 3 seeds, at
#      equal iterations, each evaluated with CocoMetric (runs that already
#      have their metrics are kept, so an interrupted bench resumes);
#   2. tools/compare.py: mean +- std per variant;
#   3. tools/benchmark.py: step time and peak memory as ratios to
#      RandomSampler on the small model and on R50-FPN (1000 proposals),
#      and the 2000-proposals x 4-images load check.
set -euo pipefail
cd "$(dirname "$0")/.."
export PY=${PY:-.venv/bin/python}
WORK=${WORK:-work_dirs/bench}
SEEDS=${SEEDS:-0 1 2}
VARIANTS=${VARIANTS:-random mmdet-ohem ohem ohem-nms0.5}
DOCS=${DOCS:-docs}
mkdir -p "$WORK" "$DOCS"
start=$(date +%s)

$PY tools/generate_hard_negatives.py --out data/hard_negatives
jobs=(); dirs=(); names=()
for seed in $SEEDS; do
    for variant in $VARIANTS; do
        dir="$WORK/${variant}_seed$seed"
        dirs+=("$dir"); names+=("$variant")
        if grep -qs bbox_mAP "$dir"/*/vis_data/scalars.json; then
            echo "==> $dir: done before, kept"; continue
        fi
        rm -rf "$dir"
        jobs+=("$variant-s$seed=configs/hard_negatives/faster-rcnn_r18-tiny_fpn_${variant}_hard-negatives.py:$dir:randomness.seed=$seed")
    done
done
if [ ${#jobs[@]} -gt 0 ]; then
    bash tools/train_parallel.sh "${jobs[@]}"
fi
echo "==> trainings took $(( $(date +%s) - start )) s"

{
    echo '## Embedded benchmark: COCO box AP (%), mean ± std over seeds'
    echo
    $PY tools/compare.py "${dirs[@]}" --names "${names[@]}" \
        --out "$DOCS/results.png"
    echo
    echo '## Step time and peak memory, as ratios to RandomSampler (512/img)'
    echo
    echo '```'
    $PY tools/benchmark.py --model small --num-imgs 2 --num-proposals 500
    echo
    $PY tools/benchmark.py --model r50 --num-imgs 2 --num-proposals 1000
    echo
    $PY tools/benchmark.py --model small --num-imgs 4 --num-proposals 2000 \
        --rounds 1 --variants random-512 head-512 head-128
    echo '```'
} 2> "$WORK/benchmark.err" | tee "$DOCS/results.md"
echo "==> bench took $(( $(date +%s) - start )) s"

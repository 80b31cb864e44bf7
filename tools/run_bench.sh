#!/usr/bin/env bash
# `make bench`: regenerate the numbers of README's "Results" section.
#   1. the three sampling variants of the embedded benchmark x 3 seeds, at
#      equal iterations, each evaluated with CocoMetric (runs that already
#      have their metrics are kept, so an interrupted bench resumes);
#   2. tools/compare.py: mean +- std per variant -> docs/results.md + PNG;
#   3. tools/benchmark.py: step time and peak memory as ratios to
#      RandomSampler, on the small model and on R50-FPN (1000 proposals),
#      and the 2000-proposals x 4-images load check.
# One training at a time: a 2-core machine is saturated by one.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
WORK=${WORK:-work_dirs/bench}
SEEDS=${SEEDS:-0 1 2}
VARIANTS=${VARIANTS:-random mmdet-ohem ohem}
DOCS=${DOCS:-docs}
mkdir -p "$WORK" "$DOCS"

$PY tools/generate_hard_negatives.py --out data/hard_negatives
dirs=(); names=()
for seed in $SEEDS; do
    for variant in $VARIANTS; do
        dir="$WORK/${variant}_seed$seed"
        dirs+=("$dir"); names+=("$variant")
        if ls "$dir"/*/vis_data/scalars.json >/dev/null 2>&1 && \
                grep -q bbox_mAP "$dir"/*/vis_data/scalars.json; then
            echo "==> $dir: done before, kept"; continue
        fi
        echo "==> training $variant, seed $seed -> $dir"
        rm -rf "$dir"
        $PY tools/train.py \
            "configs/hard_negatives/faster-rcnn_r18-tiny_fpn_${variant}_hard-negatives.py" \
            --work-dir "$dir" --cfg-options "randomness.seed=$seed" \
            > "$dir.log" 2>&1
    done
done

{
    echo '## Embedded benchmark: COCO box AP (%), mean +- std over seeds'
    echo
    $PY tools/compare.py "${dirs[@]}" --names "${names[@]}" \
        --out "$DOCS/results.png"
    echo
    echo '## Step time and peak memory, ratios to RandomSampler (512/img)'
    echo
    $PY tools/benchmark.py --model small --num-imgs 2 --num-proposals 500
    echo
    $PY tools/benchmark.py --model r50 --num-imgs 2 --num-proposals 1000
    echo
    echo '## Load check: 2000 proposals x 4 images'
    echo
    $PY tools/benchmark.py --model small --num-imgs 4 --num-proposals 2000 \
        --rounds 1 --variants random-512 head-512 head-128
} | tee "$DOCS/results.md"

#!/usr/bin/env bash
# Run several tools/train.py jobs, JOBS at a time, one thread each.
#   bash tools/train_parallel.sh NAME=CONFIG:WORK_DIR[:OPTIONS] ...
# On a 2-core machine two single-threaded trainings finish sooner than the
# same two run one after another with two threads each (small convs scale
# badly across threads). Each job logs to WORK_DIR.log; a progress line per
# job is printed every PROGRESS seconds. Exits non-zero if any job failed.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
JOBS=${JOBS:-2}
PROGRESS=${PROGRESS:-60}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}

pids=(); logs=(); names=(); failed=0

progress() {
    for i in "${!logs[@]}"; do
        line=$(grep -ho 'Iter(train) \[ *[0-9]*/[0-9]*\].*loss: [0-9.]*' \
               "${logs[$i]}" 2>/dev/null | tail -1 | \
               sed -E 's/(Iter\(train\) \[[^]]*\]).*(loss: [0-9.]+)/\1 \2/')
        map=$(grep -ho 'coco/bbox_mAP: [0-9.-]*' "${logs[$i]}" 2>/dev/null | tail -1)
        echo "    ${names[$i]}: ${line:-starting} ${map}"
    done
}

reap() {  # wait for one job to end; count failures
    while :; do
        for i in "${!pids[@]}"; do
            pid=${pids[$i]}
            [ -n "$pid" ] || continue
            if ! kill -0 "$pid" 2>/dev/null; then
                wait "$pid" || { failed=1; echo "!!  ${names[$i]} failed: see ${logs[$i]}"; }
                pids[$i]=''
                return
            fi
        done
        sleep 5
        if (( $(date +%s) % PROGRESS < 5 )); then progress; fi
    done
}

running() { local n=0; for p in "${pids[@]}"; do [ -n "$p" ] && n=$((n+1)); done; echo $n; }

for job in "$@"; do
    name=${job%%=*}; rest=${job#*=}
    IFS=: read -r config work_dir options <<< "$rest"
    while [ "$(running)" -ge "$JOBS" ]; do reap; done
    mkdir -p "$(dirname "$work_dir")"
    echo "==> start $name: $config -> $work_dir"
    # shellcheck disable=SC2086  # options are word-split on purpose
    $PY tools/train.py "$config" --work-dir "$work_dir" \
        ${options:+--cfg-options $options} > "$work_dir.log" 2>&1 &
    pids+=($!); logs+=("$work_dir.log"); names+=("$name")
done
while [ "$(running)" -gt 0 ]; do reap; done
progress
exit $failed

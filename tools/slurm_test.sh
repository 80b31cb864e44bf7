#!/usr/bin/env bash
# Test a checkpoint on a SLURM cluster, as MMDetection's tools/slurm_test.sh
# (same arguments and environment variables), through srun and
# --launcher slurm:
#
#   [GPUS=8] [GPUS_PER_NODE=8] [CPUS_PER_TASK=5] [SRUN_ARGS="..."] \
#   bash tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT \
#       [test.py args...]
#
# DRY_RUN=1 prints the srun command and exits 0 without submitting anything
# (no srun needed). PYTHON picks the interpreter the tasks run (default:
# python). Multi-node, CPU-only and OHEM notes: docs/distributed.md.
set -euo pipefail

usage() {
    cat <<USAGE
usage: [GPUS=8] [GPUS_PER_NODE=8] [CPUS_PER_TASK=5] [SRUN_ARGS="..."] \\
       [DRY_RUN=1] \\
       bash $0 PARTITION JOB_NAME CONFIG CHECKPOINT [test.py args...]
  GPUS           tasks (one per GPU) in all, over every node (default 8)
  GPUS_PER_NODE  GPUs and tasks per node (default 8)
  CPUS_PER_TASK  CPU cores per task, for the data loader (default 5)
  SRUN_ARGS      extra srun options, split on spaces (e.g. "--quotatype=auto")
  DRY_RUN=1      print the srun command instead of running it
example: GPUS=8 bash $0 gpu ohem-test \\
    configs/faster_rcnn_ohem.py work_dirs/ohem/epoch_12.pth
USAGE
}

case "${1:-}" in -h | --help) usage; exit 0 ;; esac
if [ $# -lt 4 ]; then
    echo "$0: expected PARTITION JOB_NAME CONFIG CHECKPOINT," \
        "got $# argument(s)" >&2
    usage >&2
    exit 2
fi

PARTITION=$1
JOB_NAME=$2
CONFIG=$3
CHECKPOINT=$4
shift 4
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}
for name in GPUS GPUS_PER_NODE CPUS_PER_TASK; do
    case "${!name}" in
        '' | *[!0-9]* | 0)
            echo "$0: $name must be a positive integer, got '${!name}'" >&2
            exit 2 ;;
    esac
done
# SRUN_ARGS is split on spaces, as mmdet's unquoted ${SRUN_ARGS} is.
read -r -a EXTRA <<< "$SRUN_ARGS"
TOOLS=$(dirname "$0")
export PYTHONPATH="$TOOLS/..${PYTHONPATH:+:$PYTHONPATH}"

CMD=(srun -p "$PARTITION"
    --job-name="$JOB_NAME"
    --gres=gpu:"$GPUS_PER_NODE"
    --ntasks="$GPUS"
    --ntasks-per-node="$GPUS_PER_NODE"
    --cpus-per-task="$CPUS_PER_TASK"
    --kill-on-bad-exit=1
    ${EXTRA[@]+"${EXTRA[@]}"}
    "${PYTHON:-python}" -u "$TOOLS/test.py" "$CONFIG" "$CHECKPOINT"
    --launcher=slurm "$@")

if [ "${DRY_RUN:-0}" = 1 ]; then
    printf 'PYTHONPATH=%q' "$PYTHONPATH"
    printf ' %q' "${CMD[@]}"
    printf '\n'
    exit 0
fi
if ! command -v srun > /dev/null 2>&1; then
    echo "srun not found: these scripts submit through SLURM; on a machine" \
        "without it use tools/dist_test.sh CONFIG CHECKPOINT GPUS (one node," \
        "or NNODES/NODE_RANK/MASTER_ADDR for several: docs/distributed.md)." \
        "DRY_RUN=1 prints the srun command." >&2
    exit 127
fi
# Shown as mmdet's set -x shows it; exec: srun's status is the script's.
printf '+' >&2
printf ' %q' "${CMD[@]}" >&2
printf '\n' >&2
exec "${CMD[@]}"

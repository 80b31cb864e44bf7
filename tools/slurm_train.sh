#!/usr/bin/env bash
# Train on a SLURM cluster, as MMDetection's tools/slurm_train.sh (same
# arguments and environment variables), through srun and --launcher slurm:
#
#   [GPUS=8] [GPUS_PER_NODE=8] [CPUS_PER_TASK=5] [SRUN_ARGS="..."] \
#   bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR \
#       [train.py args...]
#
# DRY_RUN=1 prints the srun command and exits 0 without submitting anything
# (no srun needed). PYTHON picks the interpreter the tasks run (default:
# python). Multi-node, CPU-only and OHEM notes: docs/distributed.md.
set -euo pipefail

usage() {
    cat <<USAGE
usage: [GPUS=8] [GPUS_PER_NODE=8] [CPUS_PER_TASK=5] [SRUN_ARGS="..."] \\
       [DRY_RUN=1] \\
       bash $0 PARTITION JOB_NAME CONFIG WORK_DIR [train.py args...]
  GPUS           tasks (one per GPU) in all, over every node (default 8)
  GPUS_PER_NODE  GPUs and tasks per node (default 8)
  CPUS_PER_TASK  CPU cores per task, for the data loader (default 5)
  SRUN_ARGS      extra srun options, split on spaces (e.g. "--quotatype=auto")
  DRY_RUN=1      print the srun command instead of running it
example: GPUS=16 bash $0 gpu ohem \\
    configs/faster_rcnn_ohem.py work_dirs/ohem
USAGE
}

case "${1:-}" in -h | --help) usage; exit 0 ;; esac
if [ $# -lt 4 ]; then
    echo "$0: expected PARTITION JOB_NAME CONFIG WORK_DIR," \
        "got $# argument(s)" >&2
    usage >&2
    exit 2
fi

PARTITION=$1
JOB_NAME=$2
CONFIG=$3
WORK_DIR=$4
shift 4
source "$(dirname "$0")/_slurm.sh"
slurm_submit "tools/dist_train.sh CONFIG GPUS" train.py "$CONFIG" \
    --work-dir="$WORK_DIR" --launcher=slurm "$@"

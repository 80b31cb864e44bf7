# Shared by tools/slurm_train.sh and tools/slurm_test.sh (sourced, not run):
# the environment checks, the srun command, DRY_RUN and the srun check.
#
#   slurm_submit FALLBACK TOOL ARGS...
# runs "python -u tools/TOOL ARGS..." as $GPUS SLURM tasks on PARTITION
# (mmdet's srun line); FALLBACK names the command to use without SLURM.

slurm_submit() {
    local fallback=$1 tool=$2
    shift 2
    GPUS=${GPUS:-8}
    GPUS_PER_NODE=${GPUS_PER_NODE:-8}
    CPUS_PER_TASK=${CPUS_PER_TASK:-5}
    SRUN_ARGS=${SRUN_ARGS:-""}
    local name
    for name in GPUS GPUS_PER_NODE CPUS_PER_TASK; do
        case "${!name}" in
            '' | *[!0-9]* | 0)
                echo "$0: $name must be a positive integer, got '${!name}'" >&2
                exit 2 ;;
        esac
    done
    # SRUN_ARGS is split on spaces, as mmdet's unquoted ${SRUN_ARGS} is.
    local extra
    read -r -a extra <<< "$SRUN_ARGS"
    local tools
    tools=$(dirname "$0")
    export PYTHONPATH="$tools/..${PYTHONPATH:+:$PYTHONPATH}"

    local cmd=(srun -p "$PARTITION"
        --job-name="$JOB_NAME"
        --gres=gpu:"$GPUS_PER_NODE"
        --ntasks="$GPUS"
        --ntasks-per-node="$GPUS_PER_NODE"
        --cpus-per-task="$CPUS_PER_TASK"
        --kill-on-bad-exit=1
        ${extra[@]+"${extra[@]}"}
        "${PYTHON:-python}" -u "$tools/$tool" "$@")

    if [ "${DRY_RUN:-0}" = 1 ]; then
        printf 'PYTHONPATH=%q' "$PYTHONPATH"
        printf ' %q' "${cmd[@]}"
        printf '\n'
        exit 0
    fi
    if ! command -v srun > /dev/null 2>&1; then
        echo "srun not found: these scripts submit through SLURM; on a" \
            "machine without it use $fallback (one node, or" \
            "NNODES/NODE_RANK/MASTER_ADDR for several: docs/distributed.md)." \
            "DRY_RUN=1 prints the srun command." >&2
        exit 127
    fi
    # Shown as mmdet's set -x shows it; exec: srun's status is the script's.
    printf '+' >&2
    printf ' %q' "${cmd[@]}" >&2
    printf '\n' >&2
    exec "${cmd[@]}"
}

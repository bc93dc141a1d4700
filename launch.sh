#!/usr/bin/env bash
# Launches jaxgan training: one machine, a Cloud TPU VM pod slice, or Slurm.
#   ./launch.sh local CONFIG WORKDIR [--config.x=...]
#   ./launch.sh tpu TPU_NAME ZONE CONFIG gs://BUCKET/RUN [--config.x=...]
#   ./launch.sh slurm NODES CONFIG WORKDIR [--config.x=...]
# --dry-run (first argument) prints the commands instead of running them.
#
# local: one process on every local device.
# tpu:   packs this checkout (git archive HEAD), copies it to every worker of
#        the TPU VM, installs it with the [tpu] extra and runs the same
#        command on all workers (gcloud ... ssh --worker=all); JAX finds the
#        other workers itself. The workdir should be a bucket all can reach.
# slurm: one process per node (srun); JAX reads the Slurm environment. The
#        workdir must be on a file system every node shares.
# Rerunning the same command resumes from the workdir's latest checkpoint.
set -euo pipefail
DRY_RUN=0
if [[ "${1:-}" == "--dry-run" ]]; then DRY_RUN=1; shift; fi
run() { if [[ $DRY_RUN == 1 ]]; then printf '%q ' "$@"; echo; else "$@"; fi; }
usage() { sed -n '2,6p' "$0" >&2; exit 2; }
PYTHON="${PYTHON:-python3}"
MODE="${1:-}"; [[ -n "$MODE" ]] || usage; shift
case "$MODE" in
  local)
    [[ $# -ge 2 ]] || usage
    CONFIG="$1"; WORKDIR="$2"; shift 2
    run "$PYTHON" -m jaxgan.main --config="$CONFIG" --workdir="$WORKDIR" "$@"
    ;;
  tpu)
    [[ $# -ge 4 ]] || usage
    TPU_NAME="$1"; ZONE="$2"; CONFIG="$3"; WORKDIR="$4"; shift 4
    ARCHIVE="${TMPDIR:-/tmp}/jaxgan-src.tar.gz"
    TRAIN="JAXGAN_DISTRIBUTED=1 python3 -m jaxgan.main $(printf '%q ' \
      --config="$CONFIG" --workdir="$WORKDIR" "$@")"
    REMOTE="set -e; mkdir -p ~/jaxgan && tar xzf ~/jaxgan-src.tar.gz -C ~/jaxgan"
    REMOTE+=" && cd ~/jaxgan && python3 -m pip install -q -e '.[tpu]' && $TRAIN"
    run git archive --format=tar.gz -o "$ARCHIVE" HEAD
    run gcloud compute tpus tpu-vm scp "$ARCHIVE" "$TPU_NAME":~/jaxgan-src.tar.gz \
      --zone="$ZONE" --worker=all
    run gcloud compute tpus tpu-vm ssh "$TPU_NAME" --zone="$ZONE" --worker=all \
      --command="$REMOTE"
    ;;
  slurm)
    [[ $# -ge 3 ]] || usage
    NODES="$1"; CONFIG="$2"; WORKDIR="$3"; shift 3
    [[ "$NODES" =~ ^[0-9]+$ ]] || { echo "NODES must be a number" >&2; exit 2; }
    run env JAXGAN_DISTRIBUTED=1 srun --nodes="$NODES" --ntasks-per-node=1 \
      "$PYTHON" -m jaxgan.main --config="$CONFIG" --workdir="$WORKDIR" "$@"
    ;;
  *) usage ;;
esac

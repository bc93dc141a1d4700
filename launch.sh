#!/usr/bin/env bash
# Launches jaxgan training.
#   ./launch.sh local CONFIG WORKDIR [--config.x=...]   one process, all devices
# --dry-run (first argument) prints the command instead of running it.
set -euo pipefail
DRY_RUN=0
if [[ "${1:-}" == "--dry-run" ]]; then DRY_RUN=1; shift; fi
run() { if [[ $DRY_RUN == 1 ]]; then printf '%q ' "$@"; echo; else "$@"; fi; }
usage() { sed -n '2,4p' "$0" >&2; exit 2; }
MODE="${1:-}"; [[ -n "$MODE" ]] || usage; shift
case "$MODE" in
  local)
    [[ $# -ge 2 ]] || usage
    CONFIG="$1"; WORKDIR="$2"; shift 2
    run python -m jaxgan.main --config="$CONFIG" --workdir="$WORKDIR" "$@"
    ;;
  *) usage ;;
esac

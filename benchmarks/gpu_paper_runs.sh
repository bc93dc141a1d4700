#!/usr/bin/env bash
# Issue 20's GPU runs, side by side in one call (README's "On a GPU" rows):
#   * the ORL context encoder (configs/context_encoder.py:orl, its 3,000
#     steps), then benchmarks.inpaint_table on it and the baselines, the
#     completions saved (ce_table/) to add the FID where the Inception weights
#     are (`python -m benchmarks.inpaint_table --saved=ce_table --fid`);
#   * SRResNet at the paper's settings (configs/srgan.py:srresnet: 96x96
#     crops, batch 16, Adam 1e-4 constant) for SR_SECONDS of training, stopped
#     by SIGTERM (a checkpoint), then `jaxgan.evaluate sr` on Set5 and Set14.
# Everything small comes back as $OUT/results.tgz (the logs as $OUT/*.log).
#
#   OUT=/tmp/out [SR_SECONDS=330] [CE_ARGS=...] [SR_ARGS=...] \
#       bash benchmarks/gpu_paper_runs.sh
# Needs data/orl/att_faces, data/sr/BSD100/image_SRF_4 and data/sr/Set{5,14}/
# image_SRF_4 (README).
set -uo pipefail
PY=${PY:-python3}
W=${W:-/tmp/jaxgan_gpu_runs}
: "${OUT:?set OUT to the folder for the results}"
SR_SECONDS=${SR_SECONDS:-330}
CE_SECONDS=${CE_SECONDS:-420}  # A bound: the 3,000 steps take less on a GPU.
CE_ARGS=${CE_ARGS:-}
SR_ARGS=${SR_ARGS:-}
mkdir -p "$W" "$OUT"
# Two processes share one GPU: neither takes JAX's default 75% of it.
export XLA_PYTHON_CLIENT_MEM_FRACTION=0.45 PYTHONUNBUFFERED=1
$PY -c 'import jax; print(jax.__version__, jax.devices())' 2>&1 |
    tee "$OUT/env.log"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv \
    >> "$OUT/env.log" 2>&1

(
  timeout -s TERM "$CE_SECONDS" $PY -m jaxgan.main \
      --config=configs/context_encoder.py:orl --workdir="$W/ce_orl" $CE_ARGS
  echo "training exit $?"
  $PY -m benchmarks.inpaint_table --workdir="$W/ce_orl" --save="$W/ce_table" \
      --out="$W/ce_table/table.json"
  $PY -m jaxgan.evaluate inpaint --workdir="$W/ce_orl" --out="$W/ce_table/model"
) > "$OUT/ce.log" 2>&1 &
ce=$!

(
  timeout -s TERM "$SR_SECONDS" $PY -m jaxgan.main \
      --config=configs/srgan.py:srresnet --workdir="$W/srresnet" \
      --config.eval_every=10000 --config.sample_every=10000 \
      --config.checkpoint_every=5000 $SR_ARGS
  echo "training exit $?"
  for set in set5 set14; do
    timeout 150 $PY -m jaxgan.evaluate sr --workdir="$W/srresnet" \
        --set=$set --scale=4 --out="$W/sr_eval/$set"
  done
) > "$OUT/sr.log" 2>&1 &
sr=$!

wait $ce; echo "context encoder: exit $?"
wait $sr; echo "srresnet: exit $?"
cd "$W" && tar czf "$OUT/results.tgz" --exclude='checkpoints*' \
    --exclude='tensorboard' --exclude='*.png' \
    ce_orl srresnet ce_table sr_eval 2>/dev/null
# A few pictures: the inpainting grid and the SR crops' source images.
cd "$W" && tar czf "$OUT/pictures.tgz" ce_table/model/*.png \
    sr_eval/set5/*.png 2>/dev/null
ls -la "$OUT"

#!/usr/bin/env bash
# The translation workloads' GPU speed beside PyTorch in one call (issue 21's
# bar: cyclegan256 at least 2x PyTorch on a GPU; the pix2pix, SRGAN and
# context-encoder rows with it), jaxgan alternating with PyTorch run on CUDA
# through benchmarks/torch_device.py (benchmarks/README.md "GPU").
#
#   cp ../shared/bench/torch_translation_bench.py bench_copy/   # untracked
#   OUT=/tmp/out BENCH=bench_copy/torch_translation_bench.py \
#       [MODELS=cyclegan256,pix2pix256,srgan96,context_encoder128] \
#       bash benchmarks/gpu_translation_speed.sh
#
# $OUT/translation_speed.jsonl gets one JSON line per workload and the log
# its table; float32 first, then bfloat16 (PyTorch under autocast).
set -uo pipefail
PY=${PY:-python3}
: "${OUT:?set OUT to the folder for the results}"
: "${BENCH:?set BENCH to a copy of torch_translation_bench.py}"
MODELS=${MODELS:-cyclegan256,pix2pix256,srgan96,context_encoder128}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv \
    > "$OUT/env.log" 2>&1
for dtype in float32 bfloat16; do
  timeout 270 $PY -m benchmarks.train_speed --models="$MODELS" \
      --torch_python="$PY" --torch_translation_bench="$BENCH" \
      --nopipeline --rounds=2 --dtype=$dtype \
      --json="$OUT/translation_speed.jsonl" 2>&1 | tee -a "$OUT/speed.log"
done

#!/usr/bin/env bash
# The fast CodeGen engine on a GPU machine, in one call (about 3 minutes on one H100, plus the machine's start):
#   1. benchmarks/engine_e2e.py: fast vs transformers engine through Engine.generate on a real checkpoint
#      (pycodegen-tiny when carried as .cache/pycodegen-tiny, else the tiny random test model), fp32 and fp16.
#   2. benchmarks/speculation.py (ENGINE_SPEC=1, default on when a real model dir is found): plain greedy vs
#      speculative decoding (prompt lookup) on that model, fast engine, few cursors (ENGINE_SPEC_CURSORS, 12):
#      speculation.md and speculation.log, bounded by ENGINE_SPEC_TIMEOUT (90 s). Needs cachetools (a wheel in
#      .whl, as benchmarks/gpu_session.sh installs them).
#   3. benchmarks/engine.py --check: logits against transformers, then the speed table for 350M/2B/6B/16B,
#      with the fast engine's rows for each of ENGINE_QUANTIZE (default none,int8,int4: the weight-only int8/int4
#      rows beside fp16, each with its own floor, quantize time and peak GPU memory; docs/quantization.md).
#   4. ENGINE_LOAD_SHAPE (default 2B; empty skips it): benchmarks/quantized_load.py, the quantizing loader's
#      peak GPU and host memory reading a real-shape fp16 safetensors checkpoint, int8 and int4 (~1 min).
# Results land in $OUT (default ./gpu-results): engine.md (the table), engine.json, engine.log, engine_e2e.md,
# speculation.md. Step 2 adds up to ENGINE_SPEC_TIMEOUT to the 3 minutes (not yet measured on a GPU).
# The fast engine's "auto" load also compiles the decode step's small ops (torch.compile, ~tens of seconds per
# shape and dtype, once per process) and keeps the compiled step only if faster and in agreement.
# Just the big shapes' speed table, without the e2e part or the transformers baseline (~2.5-3 min, estimate):
#   ENGINE_E2E=0 ENGINE_SHAPES=6B,16B,350M ENGINE_ARGS=--no-hf ENGINE_BENCH_TIMEOUT=180 bash benchmarks/gpu_engine.sh
# Each shape's rows reach engine.log as soon as it finishes, so a timeout still leaves the shapes done.
# Needs torch with CUDA and transformers; not pygls. To carry the real small model:
#   mkdir -p .cache && cp -r ../shared/models/pycodegen-tiny .cache/   # then carry ".cache/pycodegen-tiny"
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu-results}
mkdir -p "$OUT"
export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 TRANSFORMERS_VERBOSITY=error TOKENIZERS_PARALLELISM=false
PY=${PYTHON:-python3}
# A dry run of this script on a CPU: ENGINE_DEVICE=cpu ENGINE_SHAPES=tiny ENGINE_ARGS="--prompt 64 --reps 1"
#   ENGINE_E2E_ARGS="--dtypes float32" ENGINE_E2E_TIMEOUT=600 ENGINE_SPEC_CURSORS=3 ENGINE_SPEC_TIMEOUT=300
#   bash benchmarks/gpu_engine.sh
DEVICE=${ENGINE_DEVICE:-cuda}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt" \
  || echo "nvidia-smi failed (no GPU here?)" | tee "$OUT/gpu.txt"
MODEL=${ENGINE_MODEL:-}
for dir in .cache/pycodegen-tiny ../shared/models/pycodegen-tiny; do
  if [ -z "$MODEL" ] && [ -f "$dir/config.json" ]; then MODEL=$dir; fi
done
if [ "${ENGINE_E2E:-1}" != 0 ]; then
  timeout "${ENGINE_E2E_TIMEOUT:-150}" "$PY" benchmarks/engine_e2e.py ${MODEL:+--model "$MODEL"} --device "$DEVICE" ${ENGINE_E2E_ARGS:-} >"$OUT/engine_e2e.md" 2>"$OUT/engine_e2e.log"
  echo "engine_e2e exit $?"
fi
[ "${ENGINE_E2E:-1}" != 0 ] || { : >"$OUT/engine_e2e.md"; : >"$OUT/engine_e2e.log"; }  # none stale from earlier
: >"$OUT/speculation.md"; : >"$OUT/speculation.log"
if [ "${ENGINE_SPEC:-$([ -n "$MODEL" ] && echo 1 || echo 0)}" != 0 ]; then
  timeout "${ENGINE_SPEC_TIMEOUT:-90}" "$PY" benchmarks/speculation.py ${MODEL:+--model "$MODEL"} --device "$DEVICE" --engine fast \
    --cursors "${ENGINE_SPEC_CURSORS:-12}" >"$OUT/speculation.md" 2>"$OUT/speculation.log"
  echo "speculation.py exit $?"
fi
timeout "${ENGINE_BENCH_TIMEOUT:-240}" "$PY" benchmarks/engine.py --device "$DEVICE" --check ${ENGINE_SHAPES:+--shapes "$ENGINE_SHAPES"} ${ENGINE_ARGS:-} \
  --quantize "${ENGINE_QUANTIZE:-none,int8,int4}" --json "$OUT/engine.json" >"$OUT/engine.md" 2>"$OUT/engine.log"
echo "engine.py exit $?"
: >"$OUT/quantized_load.md"
if [ -n "${ENGINE_LOAD_SHAPE-2B}" ]; then
  TMPDIR=${ENGINE_LOAD_TMP:-/tmp} timeout "${ENGINE_LOAD_TIMEOUT:-120}" "$PY" benchmarks/quantized_load.py --shape "${ENGINE_LOAD_SHAPE-2B}" \
    --device "$DEVICE" --dtype "${ENGINE_LOAD_DTYPE:-float16}" >"$OUT/quantized_load.md" 2>"$OUT/quantized_load.log"
  echo "quantized_load.py exit $?"
fi
grep -E "Error|error|Traceback|warning" "$OUT/engine_e2e.log" "$OUT/speculation.log" "$OUT/engine.log" "$OUT/quantized_load.log" 2>/dev/null | grep -v "^.*UserWarning: .*past_key_values" | head -20
grep -h "vs transformers\|decode attention\|decode step\|compiled decode step" "$OUT/engine_e2e.log" "$OUT/engine.log"
cat "$OUT/engine_e2e.md"
echo
cat "$OUT/speculation.md"
echo
if [ -s "$OUT/engine.md" ]; then cat "$OUT/engine.md"; else grep "^|" "$OUT/engine.log"; fi
echo
cat "$OUT/quantized_load.md"

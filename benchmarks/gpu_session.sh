#!/usr/bin/env bash
# What a session with a lent GPU measures, in one call of the device tool (about 8-10 minutes plus the start):
#   1. benchmarks/gpu_engine.sh: the fast CodeGen engine against transformers (engine_e2e, engine.py table with
#      the verification cost, speculation.py on the real small model);
#   2. benchmarks/typing_replay.py on the GPU with a random model of CodeGen-350M's shape.
# The GPU image has torch and transformers but not pygls/lsprotocol/cattrs/cachetools: carry them as wheels in
# .whl (see /work/.library/device/README.md) and, for the real small model, .cache/pycodegen-tiny.
# One device call may run 600 s at most; a run that fits (the fast engine's table for the big shapes with the
# verification columns, speculation on the real small model, the replay), about 7-8 minutes:
#   ENGINE_E2E=0 ENGINE_SHAPES=6B,16B,350M ENGINE_ARGS=--no-hf ENGINE_BENCH_TIMEOUT=220 ENGINE_SPEC_TIMEOUT=90 \
#   ENGINE_QUANTIZE=none ENGINE_LOAD_SHAPE= REPLAY_TIMEOUT=150 bash benchmarks/gpu_session.sh
# The quantization run (issue 16: int8/int4 rows beside fp16 for the big shapes and 350M, the loader's memory on
# a 2B fp16 checkpoint; not yet run on a GPU, so the time is an estimate: ~7-9 minutes):
#   ENGINE_E2E=0 ENGINE_SPEC=0 ENGINE_SHAPES=16B,6B,350M ENGINE_ARGS="--no-hf --reps 2" ENGINE_QUANTIZE=none,int8,int4 \
#   ENGINE_BENCH_TIMEOUT=420 ENGINE_LOAD_SHAPE=2B REPLAY=0 bash benchmarks/gpu_session.sh
# The transformers engine's static plan on today's code-model shapes (Qwen2.5-Coder-1.5B and -7B, bf16, random
# weights): eager dynamic vs static+compile(reduce-overhead) side by side, target decode <= 1.5x the memory floor;
# families.md (not yet run on a GPU: about 2-4 minutes of compile and capture, an estimate):
#   ENGINE=0 REPLAY=0 FAMILIES_TIMEOUT=500 bash benchmarks/gpu_session.sh
# (FAMILIES_SHAPES adds e.g. llama-7B,starcoder2-7B,llama-1.3B,starcoder2-3B; FAMILIES=0 skips the step.)
# The device tool brings back at most 8 files from $OUT: everything lands in a folder beside it and comes
# back as one archive, $OUT/gpu-results.tar.gz (the tables are printed too).
set -uo pipefail
cd "$(dirname "$0")/.."
FINAL=${OUT:-gpu-results}
export OUT=$(mktemp -d) PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
mkdir -p "$FINAL"
trap 'tar czf "$FINAL/gpu-results.tar.gz" -C "$OUT" .' EXIT
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site:$PWD
fi
if [ "${FAMILIES:-1}" != 0 ]; then
  timeout "${FAMILIES_TIMEOUT:-400}" python3 benchmarks/engine.py --families --device cuda --dtype bfloat16 \
    --shapes "${FAMILIES_SHAPES:-qwen2-1.5B,qwen2-7B}" --prompt 1536 --json "$OUT/families.json" \
    >"$OUT/families.md" 2>"$OUT/families.log"
  echo "engine.py --families exit $?"
  grep -E "Error|error|Traceback|failed|compiled in" "$OUT/families.log" | head -20
  cat "$OUT/families.md"
fi
[ "${ENGINE:-1}" != 0 ] && bash benchmarks/gpu_engine.sh
[ "${REPLAY:-1}" != 0 ] || exit 0
timeout "${REPLAY_TIMEOUT:-300}" python3 benchmarks/typing_replay.py --shape 350m --device cuda --keys "${REPLAY_KEYS:-160}" \
  --pause 0.1 --line-pause 0.5 --png "$OUT/typing_latency_gpu.png" >"$OUT/typing_replay.md" 2>"$OUT/typing_replay.log"
echo "typing_replay exit $?"
grep -v "Loading weights\|Writing model" "$OUT/typing_replay.log" | tail -8
cat "$OUT/typing_replay.md"

#!/usr/bin/env bash
# One command for r4t's GPU latency records on a bare CUDA machine (docs/gpu.md).
#
#   bash benchmarks/gpu/run.sh OUT --bundle .gpu/music      # on the GPU machine
#   bash benchmarks/gpu/run.sh OUT --device cpu --smoke     # anywhere: tiny, exercises every path (CI)
#
# Installs what the machine lacks (faiss-cpu, jsonschema and its needs) from the wheels in
# $R4T_WHEELS (default .whl, filled by benchmarks/gpu/fetch_wheels.sh), runs r4t from this
# source tree, and writes OUT/records.jsonl, OUT/summary.md and OUT/log.txt. Other flags go to
# benchmarks/gpu/gpu_latency.py (--budget-s, --batch-sizes, --no-lm-compile, ...). The timing
# budget (300 s) and the hard limit ($R4T_GPU_TIMEOUT, 450 s) keep the whole run under 8 minutes;
# records are rewritten after every batch size, so a run stopped at the limit keeps what it measured.
set -uo pipefail
if [ $# -lt 1 ] || [[ "$1" == -* ]]; then
    echo "usage: bash benchmarks/gpu/run.sh OUT [--bundle DIR | --device cpu --smoke] [gpu_latency.py flags]" >&2
    exit 2
fi
OUT=$1; shift
cd "$(dirname "$0")/../.." || exit 2
PY=${PYTHON:-python3}
WHEELS=${R4T_WHEELS:-.whl}
mkdir -p "$OUT"
if ! "$PY" -c "import faiss, jsonschema" 2>/dev/null; then
    if ! ls "$WHEELS"/*.whl >/dev/null 2>&1; then
        echo "faiss or jsonschema is missing and $WHEELS holds no wheels: run benchmarks/gpu/fetch_wheels.sh where pip works" >&2
        exit 2
    fi
    SITE=$(mktemp -d /tmp/r4t-site.XXXX)
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" "$WHEELS"/*.whl || exit 2
    export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
fi
"$PY" -c "import r4t" 2>/dev/null || export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
{ command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader; \
  "$PY" -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"; } 2>&1 | tee "$OUT/log.txt"
timeout "${R4T_GPU_TIMEOUT:-450}" "$PY" benchmarks/gpu/gpu_latency.py --out "$OUT" "$@" 2>&1 | tee -a "$OUT/log.txt"
rc=${PIPESTATUS[0]}
[ "$rc" = 124 ] && echo "stopped at the ${R4T_GPU_TIMEOUT:-450} s limit; records.jsonl holds the batch sizes finished before it" | tee -a "$OUT/log.txt"
exit "$rc"

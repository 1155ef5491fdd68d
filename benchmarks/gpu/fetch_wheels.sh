#!/usr/bin/env bash
# Download the wheels a bare GPU machine lacks for benchmarks/gpu/run.sh into ${1:-.whl}
# (about 19 MiB: faiss-cpu, jsonschema and its needs; torch, transformers, safetensors,
# tokenizers, numpy and tqdm are on the machine). Run where pip reaches a package index.
set -euo pipefail
DEST=${1:-.whl}
PY=${PYTHON:-python3}
FAISS=$("$PY" -c "import faiss; print(faiss.__version__)" 2>/dev/null || echo 1.15.1)
mkdir -p "$DEST"
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d "$DEST" \
    "faiss-cpu==$FAISS" jsonschema jsonschema-specifications referencing rpds-py
du -sh "$DEST"

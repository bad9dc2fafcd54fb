#!/usr/bin/env bash
# Prepares the real-engine test tier: the vLLM CPU venv (scripts/real-vllm-venv.sh) and the tiny model built from
# local files only (test/python/tiny_model.py: Llama weights with a fixed seed, the committed tokenizer, a LoRA
# adapter). Both are cached under ${XDG_CACHE_HOME:-~/.cache}/aibrix-ts/, keyed by what produces them.
# Prints two lines on stdout, `venv=<dir>` and `model=<dir>` (the model is <dir>/model, the adapter <dir>/adapter).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '[real-engine %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

venv="$(scripts/real-vllm-venv.sh)"
key="$(cat test/python/tiny_model.py simulator/tokenizer/* | sha256sum | cut -c1-16)"
model="${XDG_CACHE_HOME:-$HOME/.cache}/aibrix-ts/tiny-llama-$key"
if [ ! -f "$model/.complete" ]; then
  say "building the tiny model into $model (about 15 s)"
  rm -rf "$model"
  "$venv/bin/python" test/python/tiny_model.py model simulator/tokenizer "$model" >&2
  touch "$model/.complete"
fi
echo "venv=$venv"
echo "model=$model"

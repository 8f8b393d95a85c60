#!/bin/sh
# The GPU bench (issue 15): one table, under 8 minutes on one card; --dry-run: tiny, any CPU.
#   bench/gpu.sh [--dry-run] [--images 50000] [--epochs 3] [--out FILE.json]
# Sets up .venv first when it is missing (make .venv/.installed), like every make target.
set -eu
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] && [ -f .venv/.installed ] || make -s .venv/.installed
exec .venv/bin/python bench/gpu.py "$@"

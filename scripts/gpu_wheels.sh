#!/usr/bin/env bash
# Prepare, on this machine, what scripts/gpu_check.sh needs on a device machine that can fetch nothing:
#   .whl/      wheels of the packages its image lacks or holds in other versions (Python 3.12, x86-64):
#              polars, typer (>= 0.29) with pydantic, and the benchmark's peers (torchfm, deepctr-torch)
#   .gpudata/  the Frappe archive (FRAPPE=path, default ../shared/data/frappe/Mobile_Frappe.zip)
# Both are git-ignored (listed in .git/info/exclude) and travel with `carry: [".whl", ".gpudata"]`,
# about 60 MiB together (the device tool carries 64 MiB at most).
set -euo pipefail
cd "$(dirname "$0")/.."
FRAPPE=${FRAPPE:-../shared/data/frappe/Mobile_Frappe.zip}
PY=${PY:-.venv/bin/python}
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
grep -qx '/.gpudata/' .git/info/exclude 2>/dev/null || echo '/.gpudata/' >> .git/info/exclude
rm -rf .whl .gpudata && mkdir -p .whl .gpudata
ver() { "$PY" -m pip show "$1" | sed -n 's/^Version: //p'; }
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl \
  "polars==$(ver polars)" "polars-runtime-32==$(ver polars)" "typer==$(ver typer)" "pydantic==$(ver pydantic)" \
  "pydantic-core==$(ver pydantic-core)" "annotated-types==$(ver annotated-types)" "typing-inspection==$(ver typing-inspection)"
"$PY" -m pip wheel -q --no-deps -w .whl torchfm==0.7.0 deepctr-torch==0.3.0  # pure Python, published as sources
cp "$FRAPPE" .gpudata/Mobile_Frappe.zip
du -sh .whl .gpudata

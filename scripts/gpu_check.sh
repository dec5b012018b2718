#!/usr/bin/env bash
# The GPU checks, in one command on a device machine; writes bench/gpu.md (and copies it and the logs to $OUT).
#   here:   scripts/gpu_wheels.sh
#   device: run(command="bash scripts/gpu_check.sh", carry=[".whl", ".gpudata"], timeout_s=600)
# 1. tests/test_device.py on cuda: every base x embedder against the CPU, and the train/evaluate chain;
# 2. scripts/bench.py --device cuda: FM, DeepFM, GEM+FM on Frappe and the full-size MovieLens set (generated),
#    beside pytorch-fm and DeepCTR-Torch on the same GPU;
# 3. scripts/bench_embedders.py --device cuda: FM with every embedder on those two datasets.
# Sized for about 6 minutes on one H200.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu-out}; mkdir -p "$OUT"
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 GEM_STATE_DIR=/tmp/gem-state GEM_DATASETS=/tmp/gem-datasets
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  python3 -c "import torch, polars, typer; print('torch', torch.__version__, torch.cuda.get_device_name(0), '| polars', polars.__version__, '| typer', typer.__version__)"
} 2>&1 | tee "$OUT/gpu.txt"
GEM_TEST_DEVICE=cuda timeout 150 python3 -m pytest -q -p no:cacheprovider tests/test_device.py 2>&1 | tee "$OUT/tests.txt"
tests=${PIPESTATUS[0]}
WORK=/tmp/gem-bench
timeout 300 python3 scripts/bench.py --device cuda --frappe .gpudata/Mobile_Frappe.zip --steps 30 --malloc raised \
  --fanout 16 --work $WORK --out bench/gpu.md 2>&1 | tee "$OUT/bench.txt"
bench=${PIPESTATUS[0]}
if [ -d $WORK/movielens ]; then  # 3. every embedder's throughput on the same prepared run directories
  ln -sfn $WORK/movielens $WORK/movielens-full
  timeout 90 python3 scripts/bench_embedders.py $WORK/frappe $WORK/movielens-full --device cuda --steps 30 \
    --out bench/gpu.md 2>&1 | tee "$OUT/embedders.txt"
  emb=${PIPESTATUS[0]}; bench=$(( bench || emb ))
fi
if [ -f bench/gpu.md ]; then
  { echo; echo "Card: $(head -1 "$OUT/gpu.txt"). Tests on cuda (tests/test_device.py): $(tail -1 "$OUT/tests.txt")."; } >> bench/gpu.md
  cp bench/gpu.md "$OUT/"
fi
echo "tests rc=$tests bench rc=$bench"
exit $(( tests || bench ))

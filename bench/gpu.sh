#!/usr/bin/env bash
# The GPU checks in one run, for a machine with a CUDA GPU and its own Python with torch,
# numpy, numba, scipy, safetensors and pytest (the lent GPU machine's image has them; the
# service's packages are not needed): the models' tests, whose CUDA cases run only there,
# then the ensemble's and the observer's training benches on CUDA; and, where the service's
# packages import too, the gpu queue's jobs through HTTP (bench/gpu_service.py).
# Usage, from the repo root: bash bench/gpu.sh [OUTDIR]   (default bench/results)
set -u
out=${1:-bench/results}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
py=${PYTHON:-python3}
status=0

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
$py -c "import torch, numpy, numba; print('torch', torch.__version__, 'numpy', numpy.__version__,
'numba', numba.__version__, 'cuda', torch.cuda.is_available())" || exit 1

# --noconftest: the root conftest sets up PostgreSQL and Redis, which tests/models never use.
timeout 200 $py -m pytest -q -p no:cacheprovider --noconftest -rs tests/models \
    >"$out/gpu_tests.log" 2>&1 || status=1
tail -n 15 "$out/gpu_tests.log"

timeout 150 $py bench/ensemble_training.py --devices cuda \
    --out "$out/ensemble_training_gpu.json" || status=1
timeout 400 $py bench/observer_training.py --devices cuda --setups "L96 full" \
    --out "$out/observer_training_gpu.json" || status=1
if $py -c "import fastapi, sqlalchemy, celery" 2>/dev/null; then
    timeout 400 $py bench/gpu_service.py --out "$out/gpu_service_gpu.json" || status=1
fi
exit $status

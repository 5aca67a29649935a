#!/usr/bin/env bash
# device call (2026-11-26, code ca0480d): CUDA tests, the per-piece probe, the loop at 2618f60 (old, exported to .gpu-old) vs now (new), 30 s each
set -u
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl >/dev/null 2>&1
export PYTHONUNBUFFERED=1
echo "== $(nproc) cores; $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader)"
echo "== 1. CUDA tests"
PYTHONPATH=/tmp/site:$PWD/src timeout 150 python3 -m pytest -q -p no:cacheprovider tests/test_gpu.py 2>&1 | tail -30
echo "== 2. bench_gpu_update.py --profile"
PYTHONPATH=/tmp/site:$PWD/src timeout 100 python3 benchmarks/bench_gpu_update.py --profile 2>&1 | tail -45
echo "== 3. Ms. Pac-Man d3qn 16 envs, 30 s each: the loop at 2618f60 (old) and now (new)"
for tree in old new; do
  dir=.; [ $tree = old ] && dir=.gpu-old
  (cd $dir && PYTHONPATH=/tmp/site:$PWD/src timeout 90 python3 -m qarcade.cli train mspacman --algo d3qn \
    --device cuda --num-envs 16 --max-minutes 0.5 --warmup-steps 5000 --buffer-size 200000 \
    --eval-every-steps 0 --final-eval-episodes 0 --no-video --checkpoint-every-steps 0 \
    --no-progress --json --out /tmp/ab-$tree > $OUT/ab-$tree.json 2>$OUT/ab-$tree.err)
  python3 -c "import json;s=json.load(open('$OUT/ab-$tree.json'));print('$tree: env steps', s['env_steps'], 'updates', s['grad_updates'], 'wall', s['wall_seconds'], 'env steps/s', s['env_steps_per_second'])" || tail -5 $OUT/ab-$tree.err
done

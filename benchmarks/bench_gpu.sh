#!/usr/bin/env bash
# The GPU figures of docs/BENCHMARKS.md, in one command on a CUDA machine, from the repo root:
#
#     bash benchmarks/bench_gpu.sh OUT_DIR [ATARI_MINUTES]
#
# 1. the CUDA tests (tests/test_gpu.py); 2. `make demo`'s run (D3QN, fast preset, gridworld to the
# lab's goal) on the GPU with and without the CUDA graph, reading pixels instead of the grid, and
# on the same machine's CPU cores;
# 3. where a Ms. Pac-Man training step's time goes on the GPU, eager and graphed
# (benchmarks/bench_dqn_overhead.py), and piece by piece (benchmarks/bench_gpu_update.py);
# 4. D3QN on Ms. Pac-Man (atari preset, 16 envs) for ATARI_MINUTES (default 5) with a greedy
# evaluation every 100k env steps; 0 skips it. About 11 minutes with 5 and 6 with 0: where one
# command may run 10 minutes, pass 0 (the score run is benchmarks/gpu_score_bg.sh).
# Wheels for a machine without a package index: scripts/gpu_wheels.sh.
# Runs with the machine's own python3 (torch with CUDA); wheels in .whl/ (gymnasium, ale-py, for
# machines without a package index) are installed to /tmp/site first. Writes OUT_DIR/log.txt,
# OUT_DIR/runs.tar.gz (the run directories without checkpoints) and OUT_DIR/*.json.
# A dry run without a GPU, in the venv: PYTHON=.venv/bin/python DEVICE=cpu EXTRA="--max-steps 1500"
# ROUNDS=5 bash benchmarks/bench_gpu.sh OUT 0.2
set -u -o pipefail
OUT_DIR=${1:?usage: bench_gpu.sh OUT_DIR [ATARI_MINUTES]}
MINUTES=${2:-5}
PYTHON=${PYTHON:-python3} DEVICE=${DEVICE:-cuda} EXTRA=${EXTRA:-} ROUNDS=${ROUNDS:-2000}
RUNS=/tmp/qarcade-gpu-runs
mkdir -p "$OUT_DIR" && rm -rf "$RUNS" && mkdir -p "$RUNS"
export PYTHONPATH=$PWD/src PYTHONUNBUFFERED=1
if [ "$PYTHON" = python3 ] && ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site:$PYTHONPATH
fi
QARCADE="$PYTHON -m qarcade.cli"

main() {
    echo "== machine: $(nproc) cores; $(nvidia-smi --query-gpu=name,memory.total,driver_version \
        --format=csv,noheader 2>&1)"
    "$PYTHON" -c "import torch, gymnasium, ale_py, numpy, pandas
print('torch', torch.__version__, torch.version.cuda, '| gymnasium', gymnasium.__version__,
      '| ale-py', ale_py.__version__, '| numpy', numpy.__version__, '| pandas', pandas.__version__)"

    echo "== 1. CUDA tests"
    timeout 150 "$PYTHON" -m pytest -q -p no:cacheprovider tests/test_gpu.py

    echo "== 2. make demo's run (d3qn, fast preset, gridworld to the goal): GPU, GPU without"
    echo "   the CUDA graph, GPU with the network reading pixels, then the CPU cores"
    for run in "$DEVICE --cuda-graph" "$DEVICE --no-cuda-graph" "$DEVICE --no-grid-input" "cpu"; do
        name=$(echo "$run" | tr -d ' -')
        timeout 150 $QARCADE train gridworld --algo d3qn --device $run --no-video $EXTRA \
            --no-progress --json --out "$RUNS/gridworld-$name" >"$OUT_DIR/gridworld-$name.json"
        "$PYTHON" - "$OUT_DIR/gridworld-$name.json" "$run" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
g = s["goal_reached_at"] or {}
print(f"{sys.argv[2]}: goal {s['goal_reached']} at {g.get('step')} env steps, {g.get('wall_seconds')}"
      f" s; {s['env_steps_per_second']} env steps/s; final greedy eval {s['final_eval']['mean']:.2f}")
EOF
    done

    echo "== 3. where a Ms. Pac-Man step's time goes on the GPU (atari preset, d3qn, 16 envs),"
    echo "   eager updates, then updates replayed as a CUDA graph"
    for graph in false true; do
        timeout 150 "$PYTHON" benchmarks/bench_dqn_overhead.py --preset atari --algo d3qn \
            --device "$DEVICE" --rounds "$ROUNDS" --set num_envs=16 --set warmup_steps=5000 \
            --set buffer_size=100000 --set cuda_graph=$graph
    done

    echo "== 3b. each piece of a GPU training step, and one update's CUDA kernels"
    timeout 150 "$PYTHON" benchmarks/bench_gpu_update.py --device "$DEVICE" --profile \
        --updates "$(( ROUNDS < 400 ? ROUNDS : 400 ))"

    if [ "$("$PYTHON" -c "print(float('$MINUTES') > 0)")" != True ]; then return; fi
    echo "== 4. D3QN on Ms. Pac-Man for $MINUTES minutes (atari preset, 16 envs)"
    timeout "$("$PYTHON" -c "print(int($MINUTES * 60 + 150))")" $QARCADE train mspacman \
        --algo d3qn --device "$DEVICE" $EXTRA --num-envs 16 --max-minutes "$MINUTES" --eval-every-steps 100000 --eval-episodes 10 \
        --final-eval-episodes 16 --checkpoint-every-steps 0 --no-video --no-progress --json \
        --out "$RUNS/mspacman-d3qn" >"$OUT_DIR/mspacman-d3qn.json"
    cat "$RUNS/mspacman-d3qn/evaluations.csv"
    "$PYTHON" -c "import json; s = json.load(open('$OUT_DIR/mspacman-d3qn.json'))
print({k: s[k] for k in ('env_steps', 'frames', 'episodes', 'grad_updates', 'wall_seconds',
                         'env_steps_per_second', 'final_eval', 'stop_reason')})"
}

main 2>&1 | tee "$OUT_DIR/log.txt"
tar -czf "$OUT_DIR/runs.tar.gz" -C "$RUNS" --exclude=checkpoint.pt --exclude='*.tmp' .

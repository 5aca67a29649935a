#!/usr/bin/env bash
# Issue 6's score goal on a CUDA machine: D3QN on Ms. Pac-Man (`atari` preset, 16 envs) to 10M
# frames or a mean evaluation of 2,500, across as many commands as the machine allows. From the
# repo root, the same command each time:
#
#     bash benchmarks/gpu_score.sh OUT_DIR MINUTES
#
# The first call starts the run in RUN (default /tmp/qarcade-score, outside OUT_DIR: the 1M-frame
# replay makes a 7 GB checkpoint) and trains for MINUTES; each later call on the same machine
# resumes it (`--resume`, exact but for the games in progress, which ale-py's vector env cannot
# save) for MINUTES more. Every call stops with a checkpoint (~7 GB written to RUN: budget ~30 s
# for it beyond MINUTES) and copies the run's small files to OUT_DIR: summary.json, the
# evaluations (10 whole games at epsilon 0.01, raw score, every 250k env steps = 1M frames), the
# training games, the learning curve and the log. The training wall time adds up across calls
# (the run's own clock); the final evaluation (FINAL games, default 0) runs after it.
#
# Runs with the machine's python3 (torch with CUDA); wheels in .whl/ (gymnasium, ale-py:
# scripts/gpu_wheels.sh) are installed to /tmp/site first. A dry run without a GPU, in the venv:
#   PYTHON=.venv/bin/python DEVICE=cpu RUN=/tmp/score-dry EXTRA="--replay-size 20000 \
#   --warmup-steps 500 --eval-every-steps 1000 --eval-episodes 1 --max-episode-steps 500" \
#   bash benchmarks/gpu_score.sh OUT 0.3
set -u -o pipefail
OUT_DIR=${1:?usage: gpu_score.sh OUT_DIR MINUTES}
MINUTES=${2:?usage: gpu_score.sh OUT_DIR MINUTES}
PYTHON=${PYTHON:-python3} DEVICE=${DEVICE:-cuda} EXTRA=${EXTRA:-} FINAL=${FINAL:-0}
RUN=${RUN:-/tmp/qarcade-score}
mkdir -p "$OUT_DIR"
export PYTHONPATH=$PWD/src PYTHONUNBUFFERED=1
if [ "$PYTHON" = python3 ] && ls .whl/*.whl >/dev/null 2>&1 && [ ! -d /tmp/site/ale_py ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || exit 1
fi
[ -d /tmp/site ] && export PYTHONPATH=/tmp/site:$PYTHONPATH

main() {
    echo "== $(date -u +%FT%TZ) $(git rev-parse --short HEAD 2>/dev/null); $(nproc) cores;" \
        "$(nvidia-smi --query-gpu=name --format=csv,noheader 2>&1)"
    local done_s=0 common="--final-eval-episodes $FINAL --no-video --no-progress --json"
    if [ -f "$RUN/summary.json" ] && [ -f "$RUN/checkpoint.pt" ]; then
        done_s=$("$PYTHON" -c "import json; print(json.load(open('$RUN/summary.json'))['wall_seconds'])")
        local total
        total=$("$PYTHON" -c "print(round($done_s / 60 + $MINUTES, 3))")
        echo "== resuming $RUN after $done_s s of training, up to $total minutes in all"
        set -x
        timeout "$("$PYTHON" -c "print(int($MINUTES * 60 + 240))")" "$PYTHON" -m qarcade.cli \
            train --resume "$RUN" --max-minutes "$total" $common >"$OUT_DIR/summary.json"
    else
        rm -rf "$RUN"
        echo "== starting $RUN for $MINUTES minutes"
        set -x
        timeout "$("$PYTHON" -c "print(int($MINUTES * 60 + 240))")" "$PYTHON" -m qarcade.cli \
            train mspacman --algo d3qn --device "$DEVICE" --num-envs 16 --max-minutes "$MINUTES" \
            --eval-every-steps 250000 --eval-episodes 10 --checkpoint-every-steps 0 $EXTRA \
            --out "$RUN" $common >"$OUT_DIR/summary.json"
    fi
    { set +x; } 2>/dev/null
    cp "$RUN"/evaluations.csv "$RUN"/metrics.csv "$RUN"/config.json "$OUT_DIR"/ 2>/dev/null
    cp "$RUN"/*.png "$OUT_DIR"/ 2>/dev/null
    cat "$RUN/evaluations.csv"
    "$PYTHON" -c "import json; s = json.load(open('$OUT_DIR/summary.json'))
print({k: s.get(k) for k in ('env_steps', 'frames', 'wall_seconds', 'env_steps_per_second',
                             'goal_reached', 'final_eval', 'stop_reason')})"
    ls -la "$RUN"
}

main 2>&1 | tee -a "$OUT_DIR/log.txt"

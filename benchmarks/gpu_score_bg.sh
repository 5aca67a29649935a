#!/usr/bin/env bash
# Issue 6's score run in one piece across several device calls: the training runs detached (its
# own process session, which the device tool lets outlive a command while the machine is held),
# so no 7 GB checkpoint and resume sit between calls. From the repo root:
#
#     bash benchmarks/gpu_score_bg.sh start  OUT_DIR SECONDS   # first call
#     bash benchmarks/gpu_score_bg.sh follow OUT_DIR SECONDS   # each later call, at once
#
# `start` installs the wheels of .whl/ (scripts/gpu_wheels.sh) to /tmp/site, starts D3QN on
# Ms. Pac-Man (`atari` preset, 16 envs, to 10M frames: the 2,500 goal does not stop it, so the
# curve and the 30-game final evaluation are at 10M frames), runs tests/test_gpu.py beside it
# (TESTS=0 skips them), then follows the run for SECONDS, a line per evaluation; `follow`
# follows it for SECONDS more or until it ends. Following copies the run's small files to
# OUT_DIR every 10 s, so a call that is cut off still brings back the curve so far. The run
# lives in RUN (/dev/shm when it has room: its final checkpoint is ~7 GB). Env: PYTHON, DEVICE,
# EXTRA, MINUTES (the run's own time budget, default 12; 10M frames: ~11.7 at run6's pace),
# TESTS. A dry run without a GPU, in the venv:
#   PYTHON=.venv/bin/python DEVICE=cpu TESTS=0 MINUTES=0.3 EXTRA="--replay-size 20000 \
#   --warmup-steps 500 --eval-every-steps 1000 --eval-episodes 1 --final-eval-episodes 1 \
#   --max-episode-steps 500" bash benchmarks/gpu_score_bg.sh start OUT 40
set -u -o pipefail
VERB=${1:?usage: gpu_score_bg.sh start|follow OUT_DIR SECONDS}
OUT_DIR=${2:?usage: gpu_score_bg.sh start|follow OUT_DIR SECONDS}
SECONDS_=${3:?usage: gpu_score_bg.sh start|follow OUT_DIR SECONDS}
PYTHON=${PYTHON:-python3} DEVICE=${DEVICE:-cuda} EXTRA=${EXTRA:-} MINUTES=${MINUTES:-12}
STATE=/dev/shm
[ "$(df -B1G --output=avail /dev/shm 2>/dev/null | tail -1)" -gt 20 ] 2>/dev/null || STATE=/tmp
RUN=${RUN:-$STATE/qarcade-score}
mkdir -p "$OUT_DIR"
export PYTHONPATH=$PWD/src PYTHONUNBUFFERED=1
if [ "$PYTHON" = python3 ] && ls .whl/*.whl >/dev/null 2>&1 && [ ! -d /tmp/site/ale_py ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || exit 1
fi
[ -d /tmp/site ] && export PYTHONPATH=/tmp/site:$PYTHONPATH

copy() {
    cp "$RUN"/evaluations.csv "$RUN"/metrics.csv "$RUN"/config.json "$RUN"/summary.json \
        "$OUT_DIR"/ 2>/dev/null
    cp "$RUN"/*.png "$OUT_DIR"/ 2>/dev/null
    cp "$STATE"/score-log.txt "$OUT_DIR"/train-log.txt 2>/dev/null
}

if [ "$VERB" = start ]; then
    echo "== $(date -u +%FT%TZ) $(git rev-parse --short HEAD 2>/dev/null); $(nproc) cores;" \
        "$(nvidia-smi --query-gpu=name --format=csv,noheader 2>&1); run in $RUN"
    rm -rf "$RUN"
    # shellcheck disable=SC2086  # EXTRA is a list of flags
    setsid bash -c "echo \$\$ >'$STATE/score.pid'; exec '$PYTHON' -m qarcade.cli train mspacman \
        --algo d3qn --device '$DEVICE' --num-envs 16 --goal 1e9 --max-minutes '$MINUTES' \
        --checkpoint-every-steps 0 --no-video --no-progress $EXTRA --out '$RUN' \
        >'$STATE/score-log.txt' 2>&1" </dev/null &
    sleep 1
    if [ "${TESTS:-1}" = 1 ]; then
        timeout 150 "$PYTHON" -m pytest -q -p no:cacheprovider tests/test_gpu.py \
            >"$OUT_DIR/tests.txt" 2>&1 &
        tests=$!
    fi
fi

pid=$(cat "$STATE/score.pid" 2>/dev/null)
if [ -z "$pid" ]; then
    echo "== no run here: $STATE/score.pid is missing (a fresh machine? the last one was given" \
        "back, and its run with it)"
    exit 1
fi
deadline=$((SECONDS + SECONDS_))
seen=""
while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do
    sleep 10
    copy
    last=$(tail -n +2 "$RUN/evaluations.csv" 2>/dev/null | tail -n1 | cut -d, -f1,3,7)
    [ "$last" != "$seen" ] && echo "$(date -u +%T) step,mean,wall: $last" && seen=$last
done
copy
[ -n "${tests:-}" ] && wait "$tests"  # not the run: it is a child too
[ -f "$OUT_DIR/tests.txt" ] && tail -n 15 "$OUT_DIR/tests.txt"
if kill -0 "$pid" 2>/dev/null; then
    echo "== still training: call follow again"
else
    echo "== the run has ended"
    cat "$OUT_DIR/evaluations.csv"
    tail -n 8 "$OUT_DIR/train-log.txt"
    "$PYTHON" -c "import json; s = json.load(open('$OUT_DIR/summary.json'))
print({k: s.get(k) for k in ('env_steps', 'frames', 'wall_seconds', 'env_steps_per_second',
                             'goal_reached_at', 'final_eval', 'stop_reason')})"
fi

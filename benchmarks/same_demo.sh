#!/usr/bin/env bash
# make demo's run from two source trees, compared file by file: a change that must not move a
# number (a refactor) leaves metrics.csv (but its wall-time column), the log (but times, paths
# and the config line), summary.json (but times and paths) and video.mp4 byte-identical.
#   git worktree add /tmp/base 69b47a5 && bash benchmarks/same_demo.sh /tmp/base .
# Pin the threads (--torch-threads 2 here): the numbers depend on the thread count.
set -euo pipefail
py="$(cd "$(dirname "$0")/.." && pwd)/.venv/bin/python"
out=$(mktemp -d)
for side in A B; do
  tree=$([ $side = A ] && echo "$1" || echo "$2")
  (cd "$tree" && PYTHONPATH=src "$py" -m qarcade.cli train gridworld --algo d3qn --no-progress \
    --torch-threads 2 --out "$out/$side" > "$out/$side.log" 2>&1)
  sed -E 's/[0-9.]+ (min|s)\b//g; s/\([0-9]+ steps\/s\)//; s/ \([0-9]+ threads?\)//; /^(config|run directory|learning curve|video):/d' \
    "$out/$side.log" > "$out/$side.log.cut"
  cut -d, -f1-6 "$out/$side/metrics.csv" > "$out/$side.metrics"
  "$py" -c "import json,sys; s=json.load(open(sys.argv[1])); [s.pop(k) for k in ('wall_seconds','env_steps_per_second','run_dir','checkpoint','learning_curve','video')]; (s['goal_reached_at'] or {}).pop('wall_seconds', None); print(json.dumps(s, sort_keys=True))" \
    "$out/$side/summary.json" > "$out/$side.summary"
done
status=0
for part in log.cut metrics summary; do
  if cmp -s "$out/A.$part" "$out/B.$part"; then echo "same $part"; else echo "DIFFERENT $part"; status=1; fi
done
if cmp -s "$out/A/video.mp4" "$out/B/video.mp4"; then echo "same video"; else echo "DIFFERENT video"; status=1; fi
echo "(runs in $out)"
exit $status

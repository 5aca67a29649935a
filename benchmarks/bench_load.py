"""Training speed on an idle CPU and beside a busy process, in one run: does it survive?

Trains ``make demo``'s run (the ``fast`` preset, D3QN) for a fixed ``--steps`` env steps (no
goal, no evaluation, no video) through ``qarcade train --json`` in a fresh process, alone and
then beside one single-threaded busy loop (a laptop doing something else), for each thread
setting: ``auto`` (the default: one torch thread per core other processes leave free) and
``--torch-threads N`` for each N given. Settings interleave within each repeat; prints env
steps/s of each run, the medians, and each setting's loaded speed over its idle speed.

``--midway S``: the busy loop starts S seconds into each run instead (a laptop that starts
something else while the run trains); a longer run (``--steps``), and the speed is measured from
metrics.csv once the load has been there 30 s (an auto run re-checks its count every 20 s),
against the run's own speed before the load came. ``auto`` then shows the re-check at work.

    .venv/bin/python benchmarks/bench_load.py                    # ~3 minutes on 2 cores
    .venv/bin/python benchmarks/bench_load.py --threads 1 2 --repeats 3 --json
    .venv/bin/python benchmarks/bench_load.py --midway 10 --steps 24000 --repeats 1
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time


def train_command(threads: str, steps: int) -> list[str]:
    command = [sys.executable, "-m", "qarcade.cli", "train", "gridworld", "--algo", "d3qn"]
    command += ["--max-steps", str(steps), "--goal", "inf", "--eval-every-steps", "0"]
    command += ["--final-eval-episodes", "0"]
    command += ["--no-video", "--no-progress", "--json"]
    if threads != "auto":
        command += ["--torch-threads", threads]
    return command


def steps_per_second(threads: str, steps: int, busy: bool) -> tuple[float, int]:
    """(env steps/s, the torch threads the run took)."""
    spinner = None
    if busy:
        spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        time.sleep(0.5)  # busy before the run measures the load
    try:
        with tempfile.TemporaryDirectory() as run_dir:
            out = subprocess.run(
                [*train_command(threads, steps), "--out", f"{run_dir}/run"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
    finally:
        if spinner is not None:
            spinner.kill()
    summary = json.loads(out)
    return summary["env_steps_per_second"], summary["torch_threads"]["start"]


def rate_between(rows: list[tuple[int, float]], start: float, end: float) -> float:
    """Env steps/s between wall times ``start`` and ``end`` of metrics.csv's (step, time) rows."""
    inside = [(step, t) for step, t in rows if start <= t <= end]
    (step0, t0), (step1, t1) = inside[0], inside[-1]
    return (step1 - step0) / max(t1 - t0, 1e-9)


def midway(threads: str, steps: int, after: float) -> tuple[float, float, list]:
    """(env steps/s before the load, env steps/s once it has been there 30 s, the count's
    changes): a busy loop starts ``after`` seconds into the run."""
    with tempfile.TemporaryDirectory() as run_dir:
        run = subprocess.Popen(
            [*train_command(threads, steps), "--out", f"{run_dir}/run"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        while not os.path.exists(f"{run_dir}/run/metrics.csv"):  # training begins: its clock
            time.sleep(0.05)
        time.sleep(after)
        spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        try:
            out, _ = run.communicate()
        finally:
            spinner.kill()
        with open(f"{run_dir}/run/metrics.csv") as f:
            rows = [(int(r["step"]), float(r["wall_time_s"])) for r in csv.DictReader(f)]
    end = rows[-1][1]
    before = rate_between(rows, 1.0, after)
    loaded = rate_between(rows, after + 30.0, end)
    return before, loaded, json.loads(out)["torch_threads"]["changes"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4_800, help="env steps per run")
    parser.add_argument("--threads", nargs="*", default=["2"], help="fixed counts beside auto")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--midway", type=float, help="start the busy loop this many seconds in")
    args = parser.parse_args()
    settings = ["auto", *args.threads]
    if args.midway is not None:
        for _ in range(args.repeats):
            for setting in settings:
                before, loaded, changes = midway(setting, args.steps, args.midway)
                print(
                    f"threads {setting}: {before:.0f} env steps/s alone, {loaded:.0f} beside the "
                    f"busy loop ({loaded / before:.2f}x); count changes: {changes}",
                    flush=True,
                )
        return
    runs = {(s, busy): [] for s in settings for busy in (False, True)}
    for _ in range(args.repeats):
        for busy in (False, True):
            for setting in settings:
                rate, taken = steps_per_second(setting, args.steps, busy)
                runs[setting, busy].append(rate)
                load = "busy" if busy else "idle"
                shown = f"{setting:>4} {load}: {rate:.0f} env steps/s ({taken} threads)"
                print(shown, file=sys.stderr, flush=True)
    report = {}
    for setting in settings:
        idle = statistics.median(runs[setting, False])
        loaded = statistics.median(runs[setting, True])
        report[setting] = {
            "idle": runs[setting, False],
            "busy": runs[setting, True],
            "median_idle": idle,
            "median_busy": loaded,
            "busy_over_idle": loaded / idle,
        }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    for setting, row in report.items():
        print(
            f"threads {setting}: idle {row['median_idle']:.0f}, beside a busy process "
            f"{row['median_busy']:.0f} env steps/s ({row['busy_over_idle']:.2f}x)"
        )


if __name__ == "__main__":
    main()

"""Training speed on an idle CPU and beside a busy process, in one run: does it survive?

Trains ``make demo``'s run (the ``fast`` preset, D3QN) for a fixed ``--steps`` env steps (no
goal, no evaluation, no video) through ``qarcade train --json`` in a fresh process, alone and
then beside one single-threaded busy loop (a laptop doing something else), for each thread
setting: ``auto`` (the default: one torch thread per core other processes leave free) and
``--torch-threads N`` for each N given. Settings interleave within each repeat; prints env
steps/s of each run, the medians, and each setting's loaded speed over its idle speed.

    .venv/bin/python benchmarks/bench_load.py                    # ~3 minutes on 2 cores
    .venv/bin/python benchmarks/bench_load.py --threads 1 2 --repeats 3 --json
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time


def steps_per_second(threads: str, steps: int, busy: bool) -> tuple[float, int]:
    """(env steps/s, the torch threads the run took)."""
    command = [sys.executable, "-m", "qarcade.cli", "train", "gridworld", "--algo", "d3qn"]
    command += ["--max-steps", str(steps), "--goal", "inf", "--eval-every-steps", "0"]
    command += ["--final-eval-episodes", "0"]
    command += ["--no-video", "--no-progress", "--json"]
    if threads != "auto":
        command += ["--torch-threads", threads]
    spinner = None
    if busy:
        spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        time.sleep(0.5)  # busy before the run measures the load
    try:
        with tempfile.TemporaryDirectory() as run_dir:
            out = subprocess.run(
                [*command, "--out", f"{run_dir}/run"], capture_output=True, text=True, check=True
            ).stdout
            with open(f"{run_dir}/run/config.json") as f:
                taken = json.load(f)["torch_threads"]
    finally:
        if spinner is not None:
            spinner.kill()
    return json.loads(out)["env_steps_per_second"], taken


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4_800, help="env steps per run")
    parser.add_argument("--threads", nargs="*", default=["2"], help="fixed counts beside auto")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    settings = ["auto", *args.threads]
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

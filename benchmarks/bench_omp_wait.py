"""OpenMP's wait policy against the cost of an update, on an idle CPU and beside busy processes.

Runs ``bench_dqn_overhead.py`` (the ``fast`` preset's loop, D3QN, lab CNN, 16 envs) in a fresh
process per setting of ``OMP_WAIT_POLICY`` (libgomp's default: threads spin a while, then sleep;
PASSIVE: they sleep at once; ACTIVE: they spin), first alone, then with ``--busy`` single-threaded
busy loops beside it, and prints the milliseconds per update of each.

    .venv/bin/python benchmarks/bench_omp_wait.py                  # ~2 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

POLICIES = {"default": "", "PASSIVE": "PASSIVE", "ACTIVE": "ACTIVE"}


def ms_per_update(policy: str, rounds: int, precision: str) -> float:
    command = [
        sys.executable,
        str(Path(__file__).with_name("bench_dqn_overhead.py")),
        "--preset",
        "fast",
        "--algo",
        "d3qn",
        "--rounds",
        str(rounds),
        "--set",
        f"precision={precision}",
    ]
    # An empty OMP_WAIT_POLICY is ignored by libgomp: its default applies.
    env = {**os.environ, "OMP_WAIT_POLICY": policy}
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    return float(re.search(r"\(([\d.]+) ms per update", out).group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=150, help="updates per measurement")
    parser.add_argument("--busy", type=int, default=2, help="busy loops in the second part")
    parser.add_argument("--precision", default="auto")
    args = parser.parse_args()
    for busy in (0, args.busy):
        loops = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(busy)]
        try:
            for name, policy in POLICIES.items():
                ms = ms_per_update(policy, args.rounds, args.precision)
                print(f"{busy} busy loops, OMP_WAIT_POLICY {name:8s}: {ms:6.1f} ms per update")
        finally:
            for loop in loops:
                loop.kill()


if __name__ == "__main__":
    main()

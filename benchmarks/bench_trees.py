"""One benchmark script run from two source trees, interleaved: did a change make it slower?

Runs ``SCRIPT ARGS... --json`` from tree A (a worktree of the baseline commit) and from tree B
(this one), alternately, ``--repeats`` times each, each with its own tree's ``src`` on
PYTHONPATH and its own copy of the script; with ``--busy`` a Python busy loop runs beside every
run (a laptop doing something else). Prints the chosen figures of each run, their medians and
the ratio B / A (> 1: B does more per second).

    git worktree add /tmp/base 69b47a5
    .venv/bin/python benchmarks/bench_trees.py /tmp/base . bench_dqn_overhead.py \
        --figure wall_seconds --lower-is-better --repeats 4 -- --rounds 10
    .venv/bin/python benchmarks/bench_trees.py /tmp/base . bench_dqn_sb3.py \
        --figure grid.steps_per_second --figure speedup_of_grid --repeats 3 -- --repeats 1
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path


def figure(report: dict, path: str) -> float:
    """``report["a"]["b"]`` for path ``a.b``; ``speedup_of_X`` is ``report[X]["speedup"]``."""
    if path.startswith("speedup_of_"):
        return float(report[path.removeprefix("speedup_of_")]["speedup"])
    value = report
    for key in path.split("."):
        value = value[key]
    return float(value)


def run(tree: Path, script: str, args: list[str], busy: bool) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree / "src")}
    spinner = None
    if busy:
        spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        out = subprocess.run(
            [sys.executable, str(tree / "benchmarks" / script), *args, "--json"],
            env=env,
            cwd=tree / "benchmarks",
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        if spinner is not None:
            spinner.kill()
    return json.loads(out[out.index("{") :])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tree_a", type=Path, help="the baseline tree")
    parser.add_argument("tree_b", type=Path, help="the tree under test")
    parser.add_argument("script", help="a script in benchmarks/ that takes --json")
    parser.add_argument("--figure", action="append", required=True, help="report key, a.b")
    parser.add_argument("--lower-is-better", action="store_true", help="figures are times")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--busy", action="store_true", help="a busy loop beside each run")
    parser.add_argument("--json", action="store_true")
    argv = sys.argv[1:]
    cut = argv.index("--") if "--" in argv else len(argv)
    args = parser.parse_args(argv[:cut])
    args.script_args = argv[cut + 1 :]  # after --: the script's own flags
    trees = {"A": args.tree_a.resolve(), "B": args.tree_b.resolve()}
    values = {(name, f): [] for name in trees for f in args.figure}
    for repeat in range(args.repeats):
        for name, tree in trees.items():
            report = run(tree, args.script, args.script_args, args.busy)
            got = {f: figure(report, f) for f in args.figure}
            for f, v in got.items():
                values[name, f].append(v)
            shown = ", ".join(f"{f} {v:.4g}" for f, v in got.items())
            print(f"{repeat + 1} {name}: {shown}", file=sys.stderr, flush=True)
    result = {}
    for f in args.figure:
        a, b = statistics.median(values["A", f]), statistics.median(values["B", f])
        ratio = a / b if args.lower_is_better else b / a
        result[f] = {"A": values["A", f], "B": values["B", f], "median_A": a, "median_B": b}
        result[f]["B_over_A"] = ratio
        if not args.json:
            print(f"{f}: median A {a:.4g}, B {b:.4g}; B's speed / A's = {ratio:.3f}")
    if args.json:
        print(json.dumps({"script": args.script, "busy": args.busy, **result}, indent=2))


if __name__ == "__main__":
    main()

"""Regenerate every shown output and picture of README.md and docs/ from real runs on fixed seeds.

    .venv/bin/python scripts/gen_docs.py            # run it all (3 CPU-minutes on 2 cores)
    .venv/bin/python scripts/gen_docs.py --cheap    # only the commands that take seconds
    .venv/bin/python scripts/gen_docs.py --check    # exit 1 if a page disagrees with the record

A shown output lives in a marked block of a page, ``<!-- gen:NAME -->...<!-- /gen -->``, which
this script rewrites; the commands it ran and what they printed are recorded in
docs/transcripts.json, and the pictures are copied into docs/img/. The commands run in a scratch
directory (runs/gen-docs/, ignored by git), so the paths they print are the short ones a reader
types. The main run is `make demo`'s own command, read from the Makefile, with `--out runs/d3qn`
and one torch thread (the count changes the float sums, so it is pinned: the numbers repeat on
any CPU of the same kind). tests/test_gen_docs.py checks that every block is what the record
says, reruns the cheap commands to check their record, and checks that the record's demo is
the Makefile's and trains with the config the code builds today: change the demo, a preset or
what a command prints, and the test fails until this script is run again.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TRANSCRIPTS = ROOT / "docs" / "transcripts.json"
IMAGES = ROOT / "docs" / "img"
WORK = ROOT / "runs" / "gen-docs"
PAGES = ("README.md", "docs/guide-explain.md", "docs/guide-lab.md")
BLOCK = re.compile(r"<!-- gen:([a-z0-9-]+) -->(.*?)<!-- /gen -->", re.S)  # NAME in prose: no block

# The demo's run is the Makefile's command with these flags set (one thread: any CPU has one).
DEMO_RUN = "runs/d3qn"
DEMO_FLAGS = {"--out": DEMO_RUN, "--torch-threads": "1"}

# Commands that take seconds and print the same on every machine: the test reruns them.
CHEAP = {
    "mdp": "qarcade mdp",
    "explain-mdp": "qarcade explain mdp",
    "play": "qarcade play gridworld --actions 3,3,1,0,2 --seed 1 --video episode.gif",
}
# Pictures: what a command wrote (in the scratch directory) -> the page's picture.
PICTURES = {
    "mdp_q.png": "mdp-q.png",
    f"{DEMO_RUN}/learning_curve.png": "learning-curve-d3qn.png",
    "agent.gif": "agent-d3qn.gif",
    f"{DEMO_RUN}/values.png": "values-d3qn.png",
    "family.png": "family.png",
}


# --- the demo, as the Makefile runs it ---


def demo_command(makefile: Path = ROOT / "Makefile") -> str:
    """The `qarcade ...` command of the Makefile's demo recipe (its $(BIN)/ dropped)."""
    recipe = re.search(r"^demo:.*\n((?:\t.*\n)+)", makefile.read_text(), flags=re.M)
    if recipe is None:
        raise SystemExit("no demo recipe in the Makefile")
    for line in recipe.group(1).splitlines():
        words = shlex.split(line.strip())
        if words and words[0].endswith("/qarcade"):
            return shlex.join(["qarcade", *words[1:]])
    raise SystemExit("the Makefile's demo recipe runs no qarcade command")


def with_flag(command: str, flag: str, value: str) -> str:
    """``command`` with ``flag value`` set (replacing the flag's value if it has one)."""
    words = shlex.split(command)
    if flag in words:
        words[words.index(flag) + 1] = value
    else:
        words += [flag, value]
    return shlex.join(words)


def demo_commands(demo: str) -> dict[str, str]:
    """Name -> command of every run this script makes, in order. The family's runs are the
    demo's command with another algo or seed."""
    train = demo
    for flag, value in DEMO_FLAGS.items():
        train = with_flag(train, flag, value)
    family = {
        f"train-{algo}-s{seed}": with_flag(
            with_flag(with_flag(train, "--algo", algo), "--seed", str(seed)),
            "--out",
            f"runs/{algo}-s{seed}",
        )
        for algo, seed in (("d3qn", 1), ("dqn", 0), ("dqn", 1))
    }
    return {
        "train": train,
        **family,
        "eval": f"qarcade eval {DEMO_RUN} --episodes 1 --seed 0 --video agent.gif",
        "explain-run": f"qarcade explain {DEMO_RUN}",
        "plot": f"qarcade plot {DEMO_RUN} runs/d3qn-s1 runs/dqn-s0 runs/dqn-s1 --out family.png",
    }


def resolved_config(command: str) -> dict:
    """The config a `qarcade train` command trains with, built by today's code (not run)."""
    from qarcade.cli import build_parser
    from qarcade.cli.common import config_overrides
    from qarcade.dqn.config import build_config, default_preset

    args = build_parser().parse_args(shlex.split(command)[1:])
    preset = getattr(args, "preset", None) or default_preset(args.env)
    overrides = {**config_overrides(args), "env": args.env}
    return build_config(preset, args.algo, overrides).to_dict()


# --- running ---


def run(command: str, work: Path) -> str:
    """Run ``command`` (a `qarcade ...` line) in ``work``; its stdout, or exit naming it."""
    words = shlex.split(command)
    argv = [sys.executable, "-m", "qarcade.cli", *words[1:]]
    done = subprocess.run(argv, cwd=work, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"`{command}` failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done.stdout


def run_many(commands: dict[str, str], work: Path, jobs: int) -> dict[str, str]:
    """Run the commands, ``jobs`` at a time; their stdout by name."""
    pending, running, outputs = list(commands.items()), {}, {}
    while pending or running:
        while pending and len(running) < jobs:
            name, command = pending.pop(0)
            argv = [sys.executable, "-m", "qarcade.cli", *shlex.split(command)[1:]]
            print(f"  {command}", flush=True)
            running[name] = subprocess.Popen(
                argv, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
        for name, process in list(running.items()):
            if process.poll() is None:
                continue
            stdout, stderr = process.communicate()
            if process.returncode != 0:
                raise SystemExit(f"`{commands[name]}` failed:\n{stderr[-3000:]}")
            outputs[name] = stdout
            del running[name]
        time.sleep(0.2)
    return outputs


def machine() -> dict:
    """What the numbers depend on: the CPU, whether it has AMX (bfloat16 updates), the load."""
    import platform

    import torch

    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        found = re.search(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(), flags=re.M)
        model = found.group(1).strip() if found else model
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "amx": bool(torch.cpu._is_amx_tile_supported()),
        "load": round(os.getloadavg()[0], 1),
        "torch": torch.__version__,
        "python": f"{sys.version_info.major}.{sys.version_info.minor}",
    }


def facts_of_the_demo(work: Path, commands: dict[str, str]) -> dict:
    """The numbers the guides' prose quotes, read from the demo's run."""
    import numpy as np

    from qarcade import explain

    run = work / DEMO_RUN
    summary = json.loads((run / "summary.json").read_text())
    config = json.loads((run / "config.json").read_text())
    vm = explain.value_map(run, seed=0)
    free = ~np.isnan(vm.state_value)  # (size, size) cells the hero can stand on
    goals = [(int(c % vm.size), int(c // vm.size)) for c in vm.cells[1:5]]
    fires = [(int(c % vm.size), int(c // vm.size)) for c in vm.cells[5:]]
    closer = into_fire = 0
    for y, x in zip(*np.nonzero(free), strict=True):
        dx, dy = explain.ARROW_DXDY[vm.greedy[y, x]]
        nx, ny = min(max(x + dx, 0), vm.size - 1), min(max(y + dy, 0), vm.size - 1)
        nearest = min(abs(gx - x) + abs(gy - y) for gx, gy in goals)
        closer += min(abs(gx - nx) + abs(gy - ny) for gx, gy in goals) < nearest
        into_fire += (nx, ny) in fires
    facts = {
        "command": commands["train"],
        "seed": config["seed"],
        "gamma": config["gamma"],
        "precision": summary["precision"],
        "torch_threads": config["torch_threads"],
        "env_steps": summary["env_steps"],
        "stop_reason": summary["stop_reason"],
        "goal": summary["goal"],
        "goal_metric": summary["goal_metric"],
        "goal_window": config["goal_window"],
        "goal_step": (summary["goal_reached_at"] or {}).get("step"),
        "final_eval_mean": summary["final_eval"]["mean"],
        "final_eval_episodes": summary["final_eval"]["episodes"],
        "free_cells": int(free.sum()),
        "closer_cells": int(closer),
        "fire_cells": int(into_fire),
        "value_min": round(float(np.nanmin(vm.state_value)), 2),
        "value_max": round(float(np.nanmax(vm.state_value)), 2),
    }
    if vm.advantage is not None:
        from qarcade.envs.gridworld import ACTION_NAMES

        y, x, a = np.unravel_index(np.nanargmax(vm.advantage), vm.advantage.shape)
        facts["best_advantage"] = {
            "x": int(x),
            "y": int(y),
            "action": ACTION_NAMES[a],
            "value": round(float(vm.advantage[y, x, a]), 2),
        }
    return facts


# --- the blocks of the pages ---


def shown(record: dict, *names: str) -> str:
    """A fenced block of the commands ``names`` as a terminal shows them."""
    lines = [
        f"$ {record['commands'][n]['command']}\n{record['commands'][n]['output']}" for n in names
    ]
    return "\n```\n" + "".join(lines) + "```\n"


def wrapped(text: str) -> str:
    """A paragraph of generated prose as a block of its own lines, 100 columns wide."""
    import textwrap

    return "\n" + textwrap.fill(text, 100, break_on_hyphens=False) + "\n"


def demo_note(record: dict) -> str:
    m, f = record["machine"], record["facts"]
    arithmetic = (
        "with AMX, so its updates ran in bfloat16"
        if f["precision"] == "bf16"
        else "without AMX, so its updates ran in float32"
    )
    return wrapped(
        f"(Recorded by `scripts/gen_docs.py` on {record['date']}: {m['cpu']}, {m['cores']} "
        f"cores, {arithmetic}; a CPU {'without' if f['precision'] == 'bf16' else 'with'} "
        "AMX computes other numbers (`--precision auto`). The run is pinned to "
        f"`--torch-threads {f['torch_threads']}` because the thread count changes the sums: "
        "with it, the same CPU repeats these numbers; `make demo` alone takes one thread per "
        "core that other programs leave free. Times depend on the machine and its load: this "
        "run trained beside the other runs below and other work, at a load average of "
        f"{m['load']:g} on {m['cores']} cores.)"
    )


def goal_text(f: dict) -> str:
    if f["goal_step"] is None:
        return f"stopped by {f['stop_reason']} after {f['env_steps']:,} env steps"
    if f["goal_metric"] == "train":
        goal = f"a mean training reward of {f['goal']:g} over {f['goal_window']} episodes"
    else:
        goal = f"a greedy evaluation mean of {f['goal']:g}"
    return f"the goal ({goal}) reached after {f['goal_step']:,} env steps"


def moves(f: dict) -> str:
    """Where the greedy moves of the value map lead."""
    fire = f"{f['fire_cells']} cell{'s' if f['fire_cells'] != 1 else ''}"
    return (
        f"its greedy move brings the hero closer to the nearest goal from {f['closer_cells']} "
        f"of the {f['free_cells']} cells, and onto a fire from {fire}"
    )


def explain_agent(record: dict) -> str:
    f = record["facts"]
    text = (
        f"That agent (`{f['command']}`, seed {f['seed']}: {goal_text(f)}, greedy evaluation "
        f"mean {f['final_eval_mean']:.2f} over {f['final_eval_episodes']} episodes): "
        f"{moves(f)}. Its values run from {f['value_min']:.2f} to {f['value_max']:.2f}, "
        f"small because the preset discounts by gamma {f['gamma']:g} ([dqn.md](dqn.md) says "
        "why)."
    )
    best = f.get("best_advantage")
    if best:
        text += (
            f" The advantage panels show where the choice matters most: at x={best['x']}, "
            f"y={best['y']} moving {best['action']} is worth {best['value']:.2f} more than the "
            "average move."
        )
    return wrapped(text)


BLOCKS = {
    "mdp": lambda r: shown(r, "mdp"),
    "explain-mdp": lambda r: shown(r, "explain-mdp"),
    "tour-train": lambda r: shown(r, "play", "train"),
    "demo-note": demo_note,
    "tour-eval": lambda r: shown(r, "eval", "explain-run"),
    "tour-plot": lambda r: shown(r, "plot"),
    "explain-run": lambda r: shown(r, "explain-run"),
    "explain-agent": explain_agent,
    "values-summary": lambda r: moves(r["facts"]),
    "demo-command": lambda r: f"`{r['demo']}`",
}


def render_page(text: str, record: dict) -> str:
    def replace(match):
        name = match.group(1)
        if name not in BLOCKS:
            raise SystemExit(f"unknown block gen:{name}")
        return f"<!-- gen:{name} -->{BLOCKS[name](record)}<!-- /gen -->"

    return BLOCK.sub(replace, text)


def stale_pages(record: dict) -> list[str]:
    """The pages whose blocks differ from what ``record`` makes of them."""
    return [
        p for p in PAGES if render_page((ROOT / p).read_text(), record) != (ROOT / p).read_text()
    ]


# --- the whole ---


def generate(cheap_only: bool, jobs: int) -> dict:
    started = time.perf_counter()
    record = json.loads(TRANSCRIPTS.read_text()) if TRANSCRIPTS.exists() else {"commands": {}}
    if cheap_only and "demo" not in record:
        raise SystemExit("no record of the runs yet: run the whole script once")
    if not cheap_only:  # the runs start afresh; --cheap leaves the last ones to look at
        shutil.rmtree(WORK, ignore_errors=True)
    (WORK / "runs").mkdir(parents=True, exist_ok=True)
    print(f"running in {WORK}", flush=True)
    outputs = {name: run(command, WORK) for name, command in CHEAP.items()}
    commands = dict(CHEAP)
    if not cheap_only:
        demo = demo_command()
        runs = demo_commands(demo)
        record["machine"] = machine()
        trains = {name: c for name, c in runs.items() if name.startswith("train")}
        outputs.update(run_many(trains, WORK, jobs))
        for name in ("eval", "explain-run", "plot"):
            print(f"  {runs[name]}", flush=True)
            outputs[name] = run(runs[name], WORK)
        commands.update(runs)
        record["demo"] = demo
        record["date"] = datetime.date.today().isoformat()
        record["config"] = json.loads((WORK / DEMO_RUN / "config.json").read_text())
        record["facts"] = facts_of_the_demo(WORK, runs)
    for name, output in outputs.items():
        record["commands"][name] = {"command": commands[name], "output": output}
    for made, picture in PICTURES.items():
        if cheap_only and made != "mdp_q.png":
            continue
        shutil.copyfile(WORK / made, IMAGES / picture)
    TRANSCRIPTS.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    for page in PAGES:
        path = ROOT / page
        path.write_text(render_page(path.read_text(), record))
    print(f"wrote {TRANSCRIPTS.relative_to(ROOT)}, docs/img/ and {', '.join(PAGES)}")
    print(f"in {time.perf_counter() - started:.0f} s")
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cheap", action="store_true", help="only the commands of seconds")
    parser.add_argument("--check", action="store_true", help="only check the pages (no runs)")
    parser.add_argument("--jobs", type=int, default=2, help="training runs at a time")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_pages(json.loads(TRANSCRIPTS.read_text()))
        for page in stale:
            print(
                f"{page} is out of date: run .venv/bin/python scripts/gen_docs.py", file=sys.stderr
            )
        return 1 if stale else 0
    generate(args.cheap, args.jobs)
    return 0


if __name__ == "__main__":
    sys.exit(main())

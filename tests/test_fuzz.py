"""A seeded fuzz of every command, and damaged run directories (docs/reliability.md).

Each invocation is a valid tiny one with one or two arguments replaced by values drawn from
pools of mistakes (empty, negative, NaN, infinite, 2^64, words, 300-character names, paths in
/proc, directories) and of small valid values. Whatever is drawn, the command either works
(exit 0) or says what is wrong in one line and exits non-zero: never a traceback, never a hang.
The invocations run in this process through the CLI's ``main`` (a subprocess per invocation
would cost a second of imports each); the cases that could abort or hang a process run as
subprocesses."""

import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import traceback

import numpy as np
import pytest
import torch
from tiny_runs import QUIET, tiny, tiny_flags

from qarcade.cli import main
from qarcade.dqn.config import DQNConfig
from qarcade.dqn.train import train
from qarcade.runs import CHECKPOINT, CONFIG, EVALUATIONS, METRICS, SUMMARY

SEED = int(os.environ.get("QARCADE_FUZZ_SEED", 17))  # another seed draws other invocations
INVOCATIONS = 300
HANG_S = 30  # one tiny invocation takes well under a second

# --- pools of values ---
MISTAKES = ["", "-1", "nan", "inf", "-inf", "1e999", str(2**64), "abc", "1.5", "-", "9" * 400]
SMALL_INTS = ["0", "1", "2", "3"]
HUGE_INTS = [str(2**40), str(2**62), str(2**63 - 1)]  # for sizes checked against memory
FLOATS = ["0", "0.5", "1", "1e-3", "-0.0", "2"]


def bad_paths(root, suffix):
    (root / "a-dir").mkdir(exist_ok=True)
    return [
        f"/proc/x{suffix}",
        str(root / "a-dir"),
        str(root / "no" / "such" / f"x{suffix}"),
        str(root / ("x" * 300 + suffix)),
        str(root / f"a-dir{suffix}") + "/",
        f"/sys/x{suffix}",
        str(root / f"ok{suffix}"),
        str(root / "x.txt"),
    ]


def config_flag_pools():
    """Each train/sweep config flag with the values it is fuzzed with."""
    import dataclasses

    huge_ok = {"buffer_size", "batch_size", "num_envs", "grid_size", "frame_stack", "seed"}
    huge_ok |= {"goal_window", "torch_threads", "target_update_every", "n_step"}
    pools = {}
    for f in dataclasses.fields(DQNConfig):
        if f.name == "env":
            continue
        flag = "--" + f.name.replace("_", "-")
        if f.type == "bool":
            pools[flag] = None  # --x or --no-x
        elif f.metadata["choices"]:
            pools[flag] = [*f.metadata["choices"], "bogus", ""]
        elif f.type == "int":
            pools[flag] = SMALL_INTS + MISTAKES + (HUGE_INTS if f.name in huge_ok else [])
        else:
            pools[flag] = FLOATS + MISTAKES
    return pools


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("fuzz") / "run"
    train(tiny(max_steps=120, warmup_steps=40, final_eval_episodes=1), path, **QUIET)
    return path


def invoke(args):
    """``qarcade ARGS`` in this process: (exit code, stdout, stderr, escaped exception)."""
    out, err = io.StringIO(), io.StringIO()
    threads = torch.get_num_threads()
    escaped = None

    def hang(signum, frame):
        raise TimeoutError(f"no answer in {HANG_S} s")

    previous = signal.signal(signal.SIGALRM, hang)
    signal.alarm(HANG_S)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(args)
            except SystemExit as exit:  # argparse: --help, or a flag it refuses
                code = exit.code if isinstance(exit.code, int) else 2
    except BaseException as error:  # a traceback the user would have seen
        code, escaped = None, error
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
        torch.set_num_threads(threads)  # a --torch-threads that worked: not for the next test
    return code, out.getvalue(), err.getvalue(), escaped


def one_line_or_success(args, code, err, escaped) -> str | None:
    """What is wrong with an invocation's ending, or None."""
    if escaped is not None:
        where = traceback.extract_tb(escaped.__traceback__)[-1]
        return f"{type(escaped).__name__}: {escaped} ({where.filename}:{where.lineno})"
    if "Traceback" in err:
        return "a traceback on stderr"
    if code != 0:
        lines = err.strip().splitlines()
        if not lines or "error:" not in lines[-1]:
            return f"exit {code} without an error line: {err!r}"
        errors = [line for line in lines if "error:" in line]
        if len(errors) != 1 or len(lines[-1]) > 600:
            return f"exit {code} with more than one error line: {err!r}"
    return None


class Fuzzer:
    def __init__(self, rng, root, run_dir):
        self.rng, self.root, self.run_dir, self.n = rng, root, run_dir, 0
        self.config_pools = config_flag_pools()

    def pick(self, values):
        return values[int(self.rng.integers(len(values)))]

    def mutate(self, base: list[str], pools: dict) -> list[str]:
        """``base`` with one or two of ``pools``' flags set to drawn values (a later flag wins
        in argparse), sometimes an unknown flag, a missing value or a dropped positional."""
        args = list(base)
        for _ in range(int(self.rng.integers(1, 3))):
            flag = self.pick(list(pools))
            values = pools[flag]
            if values is None:
                args.append(self.pick([flag, "--no-" + flag[2:]]))
            else:
                args += [flag, self.pick(values)]
        roll = self.rng.random()
        if roll < 0.04:
            args.append("--no-such-flag")
        elif roll < 0.07:
            args.append(self.pick(list(pools)))  # a flag without its value
        elif roll < 0.09 and len(args) > 1:
            del args[1]
        return args

    def out(self, suffix=""):
        self.n += 1
        return str(self.root / f"out{self.n}{suffix}")

    def invocation(self) -> list[str]:
        kind = self.pick(COMMANDS)
        return getattr(self, kind)()

    def mdp(self):
        pools = {
            "--gamma": FLOATS + ["0.99", "1"] + MISTAKES,
            "--steps": SMALL_INTS + ["200"] + MISTAKES,
            "--lr-power": FLOATS + ["0.85"] + MISTAKES,
            "--episodes": SMALL_INTS + MISTAKES,
            "--seed": SMALL_INTS + HUGE_INTS + MISTAKES,
            "--json": None,
        }
        return self.mutate(["mdp", "--steps", "100", "--episodes", "2"], pools)

    def play(self):
        pools = {
            "--actions": ["3,3,1", "", "9", "a,b", "3,,1", "-1", "3," * 80 + "3", "1e3"],
            "--seed": SMALL_INTS + HUGE_INTS + MISTAKES,
            "--size": ["3", "5", "20", "2", "21", *HUGE_INTS, *MISTAKES],
            "--partial": None,
            "--video": bad_paths(self.root, ".gif") + [self.out(".mp4"), self.out(".avi")],
            "--fps": FLOATS + ["1e9"] + MISTAKES,
            "--json": None,
        }
        return self.mutate(["play", "gridworld", "--actions", "3,3,1", "--seed", "1"], pools)

    def train(self):
        base = ["train", "gridworld", "--out", self.out(), "--no-progress"]
        base += tiny_flags(max_steps=60, warmup_steps=20, final_eval_episodes=1)
        pools = {**self.config_pools, "--preset": ["fast", "lab", "atari", "bogus"]}
        pools["--algo"] = ["dqn", "d3qn", "rainbow"]
        pools["--out"] = bad_paths(self.root, "") + [str(self.run_dir)]
        pools["--max-steps"] = SMALL_INTS + ["40", "80"] + MISTAKES  # a budget, not a size
        pools["--final-eval-episodes"] = SMALL_INTS + MISTAKES
        pools["--eval-episodes"] = SMALL_INTS + MISTAKES
        pools["--max-episode-steps"] = SMALL_INTS + ["10"] + MISTAKES
        pools["--device"] = ["cpu", "cuda", "bogus"]
        pools["--video"] = None
        for budget in ("--warmup-steps", "--epsilon-decay-steps", "--train-every-steps"):
            pools[budget] = SMALL_INTS + ["20"] + MISTAKES
        return self.mutate(base, pools)

    def resume(self):
        copy = self.root / f"resume{self.n}"
        self.n += 1
        shutil.copytree(self.run_dir, copy)
        pools = {
            "--max-steps": ["100", "180", "0", *MISTAKES],
            "--goal": FLOATS + MISTAKES,
            "--goal-window": SMALL_INTS + HUGE_INTS + MISTAKES,
            "--final-eval-episodes": SMALL_INTS + MISTAKES,
            "--torch-threads": SMALL_INTS + HUGE_INTS + MISTAKES,
            "--learning-rate": FLOATS + MISTAKES,
            "--algo": ["dqn"],
            "--trust-checkpoint": None,
        }
        return self.mutate(["train", "--resume", str(copy), "--no-progress"], pools)

    def eval(self):
        pools = {
            "--episodes": SMALL_INTS + MISTAKES,
            "--epsilon": FLOATS + MISTAKES,
            "--video": bad_paths(self.root, ".gif") + [self.out(".gif")],
            "--seed": SMALL_INTS + HUGE_INTS + MISTAKES,
            "--device": ["cpu", "cuda", "auto", "bogus"],
            "--json": None,
        }
        return self.mutate(["eval", str(self.run_dir), "--episodes", "1"], pools)

    def explain(self):
        target = self.pick([str(self.run_dir), "mdp"])
        pools = {
            "--out": bad_paths(self.root, ".png") + [self.out(".svg"), self.out(".jpg")],
            "--seed": SMALL_INTS + HUGE_INTS + MISTAKES,
            "--device": ["cpu", "bogus"],
            "--gamma": FLOATS + MISTAKES,
            "--steps": SMALL_INTS + ["50"] + MISTAKES,
            "--json": None,
        }
        return self.mutate(["explain", target, "--steps", "50", "--out", self.out(".png")], pools)

    def plot(self):
        pools = {
            "--out": bad_paths(self.root, ".png") + [self.out(".pdf")],
            "--label": ["a", "", "x" * 300],
            "--window": SMALL_INTS + HUGE_INTS + MISTAKES,
            "--title": ["", "t", "$x^$", "\\frac{"],
            "--json": None,
        }
        return self.mutate(["plot", str(self.run_dir), "--out", self.out(".png")], pools)

    def sweep(self):
        pools = {
            **self.config_pools,
            "--algo": ["dqn", "", "rainbow", "dqn,,d3qn"],
            "--seeds": SMALL_INTS + HUGE_INTS + MISTAKES,
            "--out": bad_paths(self.root, ""),
            "--resume": bad_paths(self.root, "") + [str(self.run_dir)],
            "--max-concurrent": SMALL_INTS + MISTAKES,
            "--cpus-per-trial": FLOATS + ["1e9"] + MISTAKES,
            "--gpus-per-trial": FLOATS + MISTAKES,
            "--address": ["127.0.0.1:1", "nowhere", "host:99999", ":", "auto"],
            "--max-trials": SMALL_INTS + MISTAKES,
            "--file": [str(self.run_dir / CONFIG), str(self.run_dir / CHECKPOINT), "/proc/x"],
            "--preset": ["fast", "atari", "bogus"],
        }
        return self.mutate(["sweep", "gridworld", "--seeds", "1", "--out", self.out()], pools)

    def preprocess(self):
        pools = {
            "--out": bad_paths(self.root, ".png"),
            "--steps": SMALL_INTS + MISTAKES,
            "--seed": SMALL_INTS + HUGE_INTS + MISTAKES,
        }
        game = self.pick(["mspacman", "pong", ""])
        return self.mutate(["preprocess", game, "--steps", "1", "--out", self.out(".png")], pools)

    def grade(self):
        text = self.root / "not-a-notebook.ipynb"
        text.write_text("{}")
        binary = self.root / "binary.ipynb"
        binary.write_bytes(bytes(range(256)))
        pools = {
            "--csv": bad_paths(self.root, ".csv"),
            "--timeout": SMALL_INTS + MISTAKES,
            "--cell-timeout": SMALL_INTS + MISTAKES,
            "--jobs": SMALL_INTS + HUGE_INTS + MISTAKES,
            "--json": None,
        }
        notebook = self.pick([str(text), str(binary), "/no/such.ipynb", str(self.root)])
        return self.mutate(["grade", notebook], pools)


# Commands drawn, with their weights as repeats: the cheap refusals more often than a run.
COMMANDS = ["mdp"] * 3 + ["play"] * 3 + ["train"] * 5 + ["resume"] * 2 + ["eval"] * 3
COMMANDS += ["explain"] * 2 + ["plot"] * 2 + ["sweep"] * 4 + ["preprocess"] + ["grade"] * 2


def test_fuzzed_invocations_work_or_say_what_is_wrong_in_one_line(
    run_dir, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)  # default outputs (mdp_q.png, runs/...) land here
    monkeypatch.setitem(sys.modules, "ray", None)  # a sweep never starts Ray here
    fuzzer = Fuzzer(np.random.default_rng(SEED), tmp_path, run_dir)
    failures, codes, started = [], {}, time.monotonic()
    for _ in range(INVOCATIONS):
        args = fuzzer.invocation()
        code, _, err, escaped = invoke(args)
        codes[code] = codes.get(code, 0) + 1
        problem = one_line_or_success(args, code, err, escaped)
        if problem:
            failures.append(f"qarcade {' '.join(a[:60] for a in args)}\n    {problem[:400]}")
    seconds = time.monotonic() - started
    with capsys.disabled():
        print(f"\nfuzz: {INVOCATIONS} invocations in {seconds:.0f} s, exit codes {codes}")
    assert not failures, "\n".join(failures)
    assert codes.get(0, 0) > 20 and codes.get(2, 0) > INVOCATIONS // 3, codes  # both kinds
    # nothing it was told to write is left empty, and no temporary file is left behind
    for path in tmp_path.rglob("*"):
        if path.is_file() and not path.name.startswith("events.out"):
            assert path.stat().st_size > 0 or path.name == ".lock", path
    assert not list(tmp_path.rglob(".qarcade-*")), list(tmp_path.rglob(".qarcade-*"))


# --- damaged run directories ---


def _damage(run, how):
    if how == "metrics deleted":
        (run / METRICS).unlink()
    elif how == "metrics not utf-8":
        (run / METRICS).write_bytes(b"\xff\xfe\x00garbage\n\x80\x81\n")
    elif how == "metrics not numbers":
        (run / METRICS).write_text(",".join(["x"] * 7) + "\n" + "episode,step\n")
    elif how == "evaluations deleted":
        (run / EVALUATIONS).unlink()
    elif how == "summary damaged":
        (run / SUMMARY).write_text("[1, 2")
    elif how == "checkpoint truncated":
        data = (run / CHECKPOINT).read_bytes()
        (run / CHECKPOINT).write_bytes(data[: len(data) // 2])
    elif how == "checkpoint deleted":
        (run / CHECKPOINT).unlink()
    elif how == "config not json":
        (run / CONFIG).write_text("{gamma: 0.9")
    elif how == "config a list":
        (run / CONFIG).write_text("[1, 2]")
    elif how == "config not utf-8":
        (run / CONFIG).write_bytes(b"\xff\xfe{}")
    else:  # a field of the wrong type: "gamma string" -> config["gamma"] = "high"
        name, kind = how.rsplit(" ", 1)
        value = {"string": "high", "list": [0.9], "null": None, "bool": True}[kind]
        config = json.loads((run / CONFIG).read_text())
        config[name] = value
        (run / CONFIG).write_text(json.dumps(config))


DAMAGES = [
    "metrics deleted",
    "metrics not utf-8",
    "metrics not numbers",
    "evaluations deleted",
    "summary damaged",
    "checkpoint truncated",
    "checkpoint deleted",
    "config not json",
    "config a list",
    "config not utf-8",
    "gamma string",
    "gamma list",
    "gamma null",
    "num_envs bool",
    "network null",
    "goal string",
]
EVAL = ["eval", "RUN", "--episodes", "1"]
EXPLAIN = ["explain", "RUN", "--out", "OUT.png"]
PLOT = ["plot", "RUN", "--out", "OUT.png"]
RESUME = ["train", "--resume", "RUN", "--no-progress"]


def readers(how: str) -> list[list[str]]:
    """The commands that read what ``how`` damaged (each reads config.json)."""
    if how.startswith(("metrics", "evaluations")):
        return [PLOT, RESUME]
    if how.startswith("checkpoint"):
        return [EVAL, EXPLAIN, RESUME]
    if how.startswith("summary"):
        return [EVAL, RESUME]
    return [EVAL, EXPLAIN, PLOT, RESUME] if how.startswith("config") else [EVAL, RESUME]


def test_damaged_run_directories_are_one_line_or_work(run_dir, tmp_path):
    tried = 0
    failures = []
    for how in DAMAGES:
        for i, command in enumerate(readers(how)):
            run = tmp_path / f"{how.replace(' ', '-')}-{i}"
            shutil.copytree(run_dir, run)
            _damage(run, how)
            args = [str(run) if a == "RUN" else a for a in command]
            args = [str(tmp_path / f"{run.name}.png") if a == "OUT.png" else a for a in args]
            code, _, err, escaped = invoke(args)
            tried += 1
            problem = one_line_or_success(args, code, err, escaped)
            if problem:
                failures.append(f"{how}: qarcade {' '.join(command)}\n    {problem[:400]}")
    assert tried == 40
    assert not failures, "\n".join(failures)


def test_a_resume_of_a_run_whose_metrics_are_gone_says_so(run_dir, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    (run / METRICS).unlink()
    code, _, err, escaped = invoke(["train", "--resume", str(run), "--no-progress"])
    assert escaped is None and code == 2 and "metrics.csv" in err and err.count("\n") == 1, err


# --- what could abort or hang a whole process: a subprocess each ---


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "gridworld", "--torch-threads", "100000000"], "torch_threads must be 0"),
        (["sweep", "gridworld", "--address", "127.0.0.1:1"], "nothing answers"),
        (["play", "gridworld", "--seed", "1"], "not a terminal"),
    ],
)
def test_what_could_abort_or_hang_a_process_is_one_line(run_dir, tmp_path, args, message):
    args = [str(run_dir) if a == "RUN" else a for a in args]
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "qarcade.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        cwd=tmp_path,
    )
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and done.stderr.count("\n") == 1, done.stderr
    assert time.monotonic() - started < 60


def test_a_closed_pipe_ends_quietly(tmp_path):
    command = f"{sys.executable} -m qarcade.cli mdp --steps 100 | head -1"
    done = subprocess.run(
        ["bash", "-o", "pipefail", "-c", command], capture_output=True, text=True, timeout=120
    )
    assert done.stdout.startswith("The lab's MDP") and done.stdout.count("\n") == 1
    assert done.stderr == "", done.stderr
    assert done.returncode in (0, 141)


# --- sweep files: any TOML value under any key ---

TOML_VALUES = [
    "5", "-1", "0", "true", '"three"', '"dqn"', "[]", '["dqn", "d3qn"]', "[1, 2]", "nan", "inf",
    "1.5", "1979-05-27", '{choice = []}', "{randint = [5, 5]}", "{randint = [1, 3]}",
    "{loguniform = [-1, 1]}", "{loguniform = [1e-4, 1e-2]}", "{uniform = [0.1, 0.9]}",
    "{uniform = [1]}", '{normal = [0, 1]}', "[[1]]", "100000000", str(2**63),
]  # fmt: skip
SPEC_KEYS = ["env", "algos", "seeds", "preset", "num_samples", "sample_seed", "colour"]
FIELD_KEYS = ["gamma", "learning_rate", "num_envs", "network", "seed", "max_steps", "nope"]


def random_sweep_file(rng) -> str:
    lines = ['env = "gridworld"'] if rng.random() < 0.8 else []
    for key in rng.choice(SPEC_KEYS, size=int(rng.integers(0, 3)), replace=False):
        if key != "env" or not lines:
            lines.append(f"{key} = {rng.choice(TOML_VALUES)}")
    for section in ("fixed", "grid", "random"):
        if rng.random() < 0.5:
            lines.append(f"[{section}]")
            for key in rng.choice(FIELD_KEYS, size=int(rng.integers(1, 3)), replace=False):
                lines.append(f"{key} = {rng.choice(TOML_VALUES)}")
    return "\n".join(lines) + "\n"


def test_fuzzed_sweep_files_are_refused_in_one_line_or_reach_ray(tmp_path, monkeypatch):
    """Ray is made unimportable: a file that passes every check ends at 'pip install'."""
    monkeypatch.setitem(sys.modules, "ray", None)
    rng = np.random.default_rng(SEED)
    failures, outcomes = [], {"refused": 0, "passed every check": 0}
    for i in range(150):
        path = tmp_path / f"sweep{i}.toml"
        path.write_text(random_sweep_file(rng))
        code, _, err, escaped = invoke(["sweep", "--file", str(path), "--out", str(tmp_path / "s")])
        problem = one_line_or_success([], code, err, escaped)
        if problem or code != 2:
            failures.append(f"{path.read_text()!r}\n    {problem or err}")
        outcomes["passed every check" if "pip install" in err else "refused"] += 1
    assert not failures, "\n".join(failures)
    assert outcomes["refused"] > 50 and outcomes["passed every check"] > 5, outcomes
    assert not (tmp_path / "s").exists()

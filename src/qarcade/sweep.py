"""Many seeds and settings as Ray Tune trials, and honest statistics over them.

A sweep is a list of trials, each a normal qarcade run directory under ``SWEEP_DIR/trials/``,
trained by ``qarcade.dqn.train.train``. Ray Tune schedules them (locally on this machine's cores,
or on a cluster given by ``address``) and keeps the experiment state in ``SWEEP_DIR/tune/``, so
an interrupted sweep resumes: finished trials are skipped, unfinished ones continue from their own
checkpoints. The report follows Agarwal et al. (2021): the interquartile mean with a stratified
bootstrap confidence interval, never a bare mean over a handful of seeds.

Ray is an optional extra (``pip install 'qarcade[sweep]'``); only ``run_sweep`` imports it.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import itertools
import json
import math
import os
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from qarcade.dqn.config import ALGOS, PRESETS, DQNConfig, build_config
from qarcade.errors import UserError
from qarcade.runs import RunDir, atomic_write_json
from qarcade.stats import band_over_runs, iqm, smoothed_on_grid, stratified_bootstrap_ci

SPEC_FILE = "sweep.json"
TRIALS_CSV = "trials.csv"
REPORT_JSON = "report.json"
CURVES_PNG = "learning_curves.png"
_DISTRIBUTIONS = ("uniform", "loguniform", "choice", "randint")


# A sweep of more trials than this is refused unless --max-trials lifts it: each trial is a
# run directory and a config in memory (seeds = 100000000 grew memory until the kernel killed it).
MAX_TRIALS = 1000


@dataclass(frozen=True)
class SweepSpec:
    """What to run: every algo x every seed x every grid point x every random sample."""

    env: str = "gridworld"
    algos: tuple[str, ...] = ("d3qn",)
    seeds: int = 3
    preset: str = "fast"
    fixed: dict = field(default_factory=dict)  # config fields set in every trial
    grid: dict = field(default_factory=dict)  # field -> list of values, all combinations
    random: dict = field(default_factory=dict)  # field -> {"loguniform": [low, high]} etc.
    num_samples: int = 1  # random draws of the `random` fields
    sample_seed: int = 0  # seeds the random draws, so a resumed sweep draws the same trials

    def __post_init__(self):
        # A sweep file may hold any TOML value: each key is checked for what it must be, and
        # the error names the key and what it expected.
        _expect("env", self.env, isinstance(self.env, str) and self.env, "an environment name")
        algos = self.algos
        _expect("algos", algos, isinstance(algos, list | tuple) and algos, "a list of algos")
        unknown = [algo for algo in algos if not isinstance(algo, str) or algo not in ALGOS]
        if unknown:
            raise UserError(f"sweep: unknown algo {unknown}; choose from {', '.join(ALGOS)}")
        for name in ("seeds", "num_samples"):
            value = getattr(self, name)
            _expect(name, value, _is_int(value) and 0 < value < 2**63, "a positive integer")
        seed = self.sample_seed
        _expect("sample_seed", seed, _is_int(seed) and 0 <= seed < 2**63, "an integer >= 0")
        preset = self.preset
        ok = isinstance(preset, str) and preset in PRESETS
        _expect("preset", preset, ok, f"one of {', '.join(PRESETS)}")
        known = {f.name for f in dataclasses.fields(DQNConfig)}
        for section in ("fixed", "grid", "random"):
            values = getattr(self, section)
            _expect(section, values, isinstance(values, dict), "a table of config fields")
            for name in values:
                if name not in known or name in ("seed", "double", "dueling", "env"):
                    raise UserError(f"sweep [{section}]: {name!r} is not a field a sweep can set")
        for name, values in self.grid.items():
            if not isinstance(values, list) or not values:
                raise UserError(f"sweep [grid]: {name} needs a non-empty list of values")
        for name, dist in self.random.items():
            _check_distribution(name, dist)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def trial_count(self) -> int:
        """How many trials ``expand_trials`` makes, known without making them."""
        points = math.prod(len(values) for values in self.grid.values())
        return len(self.algos) * points * self.num_samples * self.seeds


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _expect(key: str, value, ok, expected: str) -> None:
    if not ok:
        raise UserError(f"sweep: {key} must be {expected}, got {value!r}")


def _check_distribution(name: str, dist) -> None:
    """One of ``{uniform = [low, high]}``, ``{loguniform = [low, high]}`` (0 < low),
    ``{randint = [low, high]}`` (integers) with low < high, or ``{choice = [values]}``."""
    example = "e.g. {loguniform = [1e-4, 1e-2]}"
    if not (isinstance(dist, dict) and len(dist) == 1 and next(iter(dist)) in _DISTRIBUTIONS):
        raise UserError(
            f"sweep [random]: {name} needs one of {', '.join(_DISTRIBUTIONS)}, {example}"
        )
    ((kind, args),) = dist.items()
    where = f"sweep [random]: {name} = {{{kind} = {args!r}}}"
    if kind == "choice":
        if not isinstance(args, list) or not args:
            raise UserError(f"{where}: choice needs a non-empty list of values")
        return
    number = _is_int if kind == "randint" else _is_number
    if not (isinstance(args, list) and len(args) == 2 and all(number(v) for v in args)):
        what = "integers" if kind == "randint" else "finite numbers"
        raise UserError(f"{where}: needs [low, high], two {what}")
    low, high = args
    if not low < high:
        raise UserError(f"{where}: low must be below high")
    if kind == "loguniform" and low <= 0:
        raise UserError(f"{where}: a log-uniform range must be above 0")


def load_spec_file(path: str | Path) -> dict:
    """A TOML sweep file as a dict of SweepSpec fields (see docs/sweep.md for the format)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"sweep file {path} does not exist")
    try:
        values = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise UserError(f"sweep file {path} is not a text file (UTF-8 TOML)") from None
    except OSError as error:
        raise UserError(f"cannot read the sweep file {path}: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise UserError(f"sweep file {path} is not valid TOML: {error}") from None
    known = {f.name for f in dataclasses.fields(SweepSpec)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise UserError(f"sweep file {path}: unknown keys {', '.join(unknown)}")
    if isinstance(values.get("algos"), list):
        values["algos"] = tuple(values["algos"])
    return values


def read_spec(sweep_dir: str | Path) -> SweepSpec:
    """The spec a sweep directory was started with."""
    path = Path(sweep_dir) / SPEC_FILE
    try:
        found = path.is_file()
    except OSError:  # a name too long to look up
        found = False
    if not found:
        raise UserError(f"{sweep_dir} is not a qarcade sweep directory (no {SPEC_FILE})")
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
        values = {**values, "algos": tuple(values["algos"])}
    except (OSError, ValueError, TypeError, KeyError) as error:
        raise UserError(f"cannot read {path}: {type(error).__name__} {error}") from None
    known = {f.name for f in dataclasses.fields(SweepSpec)}
    if not isinstance(values, dict) or set(values) - known:
        raise UserError(f"{path} is not a sweep's state (unknown keys)")
    return SweepSpec(**values)


def _draw(dist: dict, rng: np.random.Generator):
    ((kind, args),) = dist.items()
    if kind == "uniform":
        return float(rng.uniform(*args))
    if kind == "loguniform":
        return float(math.exp(rng.uniform(math.log(args[0]), math.log(args[1]))))
    if kind == "randint":
        return int(rng.integers(args[0], args[1]))
    return args[int(rng.integers(len(args)))]  # choice


def expand_trials(spec: SweepSpec, sweep_dir: str | Path) -> list[dict]:
    """Every trial as {"name", "variant", "algo", "seed", "params", "config", "run_dir"}.

    ``variant`` names what is being compared (algo plus grid and random values): its seeds are
    the runs the statistics pool. The expansion is deterministic, so a resumed sweep finds the
    same trials in the same folders.
    """
    rng = np.random.default_rng(spec.sample_seed)
    samples = [
        {name: _draw(dist, rng) for name, dist in sorted(spec.random.items())}
        for _ in range(spec.num_samples)
    ]
    grid_names = sorted(spec.grid)
    grid_points = [
        dict(zip(grid_names, values, strict=True))
        for values in itertools.product(*(spec.grid[name] for name in grid_names))
    ]
    trials = []
    for algo, point, sample in itertools.product(spec.algos, grid_points, samples):
        params = {**point, **sample}
        label = ",".join(f"{k}={_short(v)}" for k, v in params.items())
        variant = f"{algo}[{label}]" if label else algo
        for seed in range(spec.seeds):
            overrides = {**spec.fixed, **params, "env": spec.env, "seed": seed, "video": False}
            config = build_config(spec.preset, algo, overrides)
            digest = hashlib.sha1(variant.encode()).hexdigest()[:6] if label else ""
            name = f"{algo}-{digest}-seed{seed}" if digest else f"{algo}-seed{seed}"
            trials.append(
                {
                    "name": name,
                    "variant": variant,
                    "algo": algo,
                    "seed": seed,
                    "params": params,
                    "config": config.to_dict(),
                    "run_dir": str(Path(sweep_dir).resolve() / "trials" / name),
                }
            )
    return trials


def _short(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


# --- running on Ray Tune ---


def _run_trial(params: dict) -> None:
    """One Tune trial: train (or resume, or just read) its run directory, report its summary."""
    from ray import tune

    from qarcade.dqn.train import train

    trial = params["trial"]
    run_dir = Path(trial["run_dir"])
    summary = _finished_summary(run_dir)
    if summary is None:
        config = DQNConfig.from_dict(trial["config"])
        # a run stopped before its first checkpoint resumes from the start; the run's lock
        # keeps a second worker out of a trial that is still running
        resume = (run_dir / "config.json").exists()
        summary = train(config, run_dir, resume=resume, progress=False, log=lambda *_: None)
    tune.report(_flat_metrics(summary))


def _finished_summary(run_dir: Path) -> dict | None:
    """The run's summary if it ended for good (goal, step or time budget), else None."""
    path = run_dir / "summary.json"
    if not path.exists():
        return None
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # damaged: the trial is not done (its resume rewrites it)
        return None
    if not isinstance(summary, dict):
        return None
    return summary if summary.get("stop_reason") not in (None, "SIGINT", "SIGTERM") else None


def _flat_metrics(summary: dict) -> dict:
    final = summary.get("final_eval") or {}
    reached = summary.get("goal_reached_at") or {}
    return {
        "env_steps": summary["env_steps"],
        "goal_reached": bool(summary["goal_reached"]),
        "goal_step": reached.get("step"),
        "goal_seconds": reached.get("wall_seconds"),
        "final_eval_mean": final.get("mean"),
        "wall_seconds": summary["wall_seconds"],
    }


def run_sweep(
    spec: SweepSpec,
    sweep_dir: str | Path,
    *,
    resume: bool = False,
    max_concurrent: int | None = None,
    cpus_per_trial: float = 1.0,
    gpus_per_trial: float = 0.0,
    address: str | None = None,
    max_trials: int = MAX_TRIALS,
    log=print,
) -> dict:
    """Run (or resume) the sweep on Ray Tune, then write and return the aggregate report.

    Everything that can be checked is checked before Ray starts (``check_sweep``). A resume
    reads the sweep's own state, never Ray Tune's pickled one: the spec in ``sweep.json``
    gives the trials, each trial's run directory says whether it is done (``summary.json``)
    or where it stopped (its checkpoint), and the trials not done run again as new Tune trials.
    """
    from qarcade.outfiles import check_folder

    sweep_dir = Path(sweep_dir).resolve()
    spec_path = sweep_dir / SPEC_FILE
    if resume:
        spec = read_spec(sweep_dir)
    elif check_folder(sweep_dir, "sweep directory") and spec_path.exists():
        raise UserError(f"{sweep_dir} already holds a sweep: use --resume, or another --out")
    trials = check_sweep(
        spec,
        sweep_dir,
        cpus_per_trial=cpus_per_trial,
        gpus_per_trial=gpus_per_trial,
        address=address,
        max_trials=max_trials,
        resume=resume,
    )
    try:
        import ray
        from ray import tune
    except ImportError:
        raise UserError("qarcade sweep needs Ray Tune: pip install 'qarcade[sweep]'") from None

    if not resume:
        sweep_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_json(spec_path, spec.to_dict())
    threads = max(1, int(cpus_per_trial))
    for trial in trials:  # a trial uses the cores Ray gives it, no more
        if not trial["config"]["torch_threads"]:
            trial["config"]["torch_threads"] = threads
    todo = [trial for trial in trials if _finished_summary(Path(trial["run_dir"])) is None]
    log(
        f"sweep: {len(trials)} trials ({len(spec.algos)} algos x {spec.seeds} seeds) in "
        f"{sweep_dir}" + (f"; {len(trials) - len(todo)} already done" if resume else "")
    )
    if todo:
        os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
        if not ray.is_initialized():
            try:
                if address:
                    ray.init(address=address, log_to_driver=False)
                else:
                    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
            except (ConnectionError, RuntimeError, ValueError) as error:
                message = str(error).splitlines()[0] if str(error) else type(error).__name__
                raise UserError(f"could not start or join Ray ({message})") from None
        _check_cluster_resources(ray.cluster_resources(), cpus_per_trial, gpus_per_trial)
        trainable = tune.with_resources(_run_trial, {"cpu": cpus_per_trial, "gpu": gpus_per_trial})
        # Each start is a new Tune experiment of the trials not done: nothing of an earlier one
        # (its tuner.pkl, a pickle) is read back.
        stamp = time.strftime("%Y%m%d-%H%M%S")
        tuner = tune.Tuner(
            trainable,
            param_space={"trial": tune.grid_search(todo)},
            tune_config=tune.TuneConfig(
                max_concurrent_trials=max_concurrent,
                trial_dirname_creator=lambda t: t.config["trial"]["name"],
                trial_name_creator=lambda t: t.config["trial"]["name"],
            ),
            run_config=tune.RunConfig(
                name=f"tune-{stamp}-{os.getpid()}",
                storage_path=str(sweep_dir / "tune"),
                verbose=0,
                log_to_file=True,
            ),
        )
        results = tuner.fit()
        errors = [str(result.error).splitlines()[0] for result in results if result.error]
        if errors:
            log(f"sweep: {len(errors)} trials failed; first: {errors[0]}")
    return write_report(sweep_dir)


def check_sweep(
    spec: SweepSpec,
    sweep_dir: Path,
    *,
    cpus_per_trial: float = 1.0,
    gpus_per_trial: float = 0.0,
    address: str | None = None,
    max_trials: int = MAX_TRIALS,
    resume: bool = False,
) -> list[dict]:
    """The sweep's trials, or a UserError for what would fail after Ray started: too many
    trials, an env qarcade does not know, a trial config that cannot work, resources this
    machine lacks, a cluster address that does not answer, an --out that cannot be made."""
    from qarcade.dqn.envs import env_factory

    count = spec.trial_count()
    if count > max_trials:
        raise UserError(
            f"the sweep has {count:,} trials, more than {max_trials:,}: lower seeds, the grid "
            f"or num_samples, or pass --max-trials {count}"
        )
    env_factory(spec.env)  # an unknown env fails here, not in every trial
    trials = expand_trials(spec, sweep_dir)  # every trial's config checked
    if not (0 < cpus_per_trial < math.inf):
        raise UserError(f"--cpus-per-trial must be positive, got {cpus_per_trial}")
    if not (0 <= gpus_per_trial < math.inf):
        raise UserError(f"--gpus-per-trial must be 0 or more, got {gpus_per_trial}")
    if address:
        check_address(address)
    else:  # a local Ray has this machine's cores and GPUs, no more
        import torch

        _check_cluster_resources(
            {"CPU": os.cpu_count() or 1, "GPU": torch.cuda.device_count()},
            cpus_per_trial,
            gpus_per_trial,
        )
    return trials


def _check_cluster_resources(resources: dict, cpus_per_trial: float, gpus_per_trial: float):
    """A trial that asks for more than the cluster has would wait for it forever."""
    for name, flag, wanted in (("CPU", "cpus", cpus_per_trial), ("GPU", "gpus", gpus_per_trial)):
        have = resources.get(name, 0)
        if wanted > have:
            where = f"{have:g} {name}s" if have else f"no {name}"
            raise UserError(
                f"--{flag}-per-trial {wanted:g}, but Ray has {where}: no trial could start"
            )


ADDRESS_TIMEOUT_S = 5.0


def check_address(address: str, timeout: float = ADDRESS_TIMEOUT_S) -> None:
    """A HOST:PORT (or ray://HOST:PORT) that accepts a connection within ``timeout`` seconds,
    or a UserError (Ray itself retries an address that does not answer for minutes); ``auto``
    is Ray's to find."""
    import socket

    if address == "auto":
        return
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, sep, port = hostport.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UserError(f"--address must be auto or HOST:PORT, got {address!r}")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except OSError as error:
        reason = "no answer" if isinstance(error, TimeoutError) else _reason(error)
        raise UserError(
            f"nothing answers at {hostport} within {timeout:g} s ({reason}): is Ray running "
            "there (ray start --head)?"
        ) from None


def _reason(error: OSError) -> str:
    return error.strerror or str(error) or type(error).__name__


# --- the report ---


def trial_rows(sweep_dir: str | Path) -> list[dict]:
    """One row per trial from its run directory (unfinished trials included, marked so)."""
    sweep_dir = Path(sweep_dir)
    rows = []
    for trial in expand_trials(read_spec(sweep_dir), sweep_dir):
        run_dir = Path(trial["run_dir"])
        summary = _finished_summary(run_dir)
        row = {
            "trial": trial["name"],
            "variant": trial["variant"],
            "algo": trial["algo"],
            "seed": trial["seed"],
            **trial["params"],
            "finished": summary is not None,
        }
        if summary is not None:
            row.update(_flat_metrics(summary))
        row["run_dir"] = str(run_dir)
        rows.append(row)
    return rows


def aggregate(rows: list[dict], *, reps: int = 2000, seed: int = 0) -> dict:
    """Per variant: success rate, steps and seconds to the goal, final evaluation IQM + 95% CI."""
    report = {}
    for variant in dict.fromkeys(row["variant"] for row in rows):
        runs = [row for row in rows if row["variant"] == variant and row["finished"]]
        reached = [row for row in runs if row["goal_reached"]]
        finals = np.array(
            [row["final_eval_mean"] for row in runs if row.get("final_eval_mean") is not None],
            dtype=np.float64,
        )
        entry = {
            "trials": sum(row["variant"] == variant for row in rows),
            "finished": len(runs),
            "goal_fraction": len(reached) / len(runs) if runs else None,
            "goal_steps_median": _median([row["goal_step"] for row in reached]),
            "goal_seconds_median": _median([row["goal_seconds"] for row in reached]),
            "final_eval_iqm": iqm(finals) if len(finals) else None,
            "final_eval_ci95": (
                list(stratified_bootstrap_ci(finals, reps=reps, seed=seed)) if len(finals) else None
            ),
        }
        report[variant] = entry
    return report


def _median(values: list) -> float | None:
    return float(np.median(values)) if values else None


def write_report(sweep_dir: str | Path, *, points: int = 100) -> dict:
    """Write trials.csv, report.json and learning_curves.png in the sweep directory."""
    sweep_dir = Path(sweep_dir)
    rows = trial_rows(sweep_dir)
    columns = list(dict.fromkeys(key for row in rows for key in row))
    with open(sweep_dir / TRIALS_CSV, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    report = aggregate(rows)
    (sweep_dir / REPORT_JSON).write_text(json.dumps(report, indent=2))
    _plot_curves(sweep_dir, rows, points)
    return report


def _plot_curves(sweep_dir: Path, rows: list[dict], points: int) -> None:
    from qarcade.media import plot_curves_with_bands

    metrics = {}
    for row in rows:
        path = Path(row["run_dir"]) / "metrics.csv"
        if path.exists():
            frame = RunDir(row["run_dir"]).read_metrics()
            if len(frame):
                metrics[row["trial"]] = frame
    if not metrics:
        return
    last = max(int(frame["step"].max()) for frame in metrics.values())
    grid = np.linspace(0, last, points)
    curves = {}
    for variant in dict.fromkeys(row["variant"] for row in rows):
        runs = [
            metrics[row["trial"]]
            for row in rows
            if row["variant"] == variant and row["trial"] in metrics
        ]
        if runs:
            values = np.stack([smoothed_on_grid(f["step"], f["reward"], grid) for f in runs])
            mean, low, high = band_over_runs(values)
            curves[f"{variant} ({len(runs)} seeds)"] = (grid, mean, low, high)
    spec = read_spec(sweep_dir)
    goal = spec.fixed.get("goal", build_config(spec.preset, None, {"env": spec.env}).goal)
    plot_curves_with_bands(
        curves,
        sweep_dir / CURVES_PNG,
        goal=goal if math.isfinite(goal) else None,  # inf: the env has no goal
        title="mean of the last 50 training episodes, 95% bootstrap band",
    )


def format_report(report: dict) -> str:
    """The report as an aligned text table."""
    header = (
        f"{'variant':<28} {'goal':>7} {'steps to goal':>14} {'s to goal':>10} "
        f"{'final eval IQM [95% CI]':>26}"
    )
    lines = [header, "-" * len(header)]
    for variant, entry in report.items():
        fraction = entry["goal_fraction"]
        goal = "-" if fraction is None else f"{fraction:.0%}"
        steps = entry["goal_steps_median"]
        seconds = entry["goal_seconds_median"]
        final = entry["final_eval_iqm"]
        ci = entry["final_eval_ci95"]
        final_text = "-" if final is None else f"{final:.2f} [{ci[0]:.2f}, {ci[1]:.2f}]"
        lines.append(
            f"{variant:<28} {goal:>7} {'-' if steps is None else f'{steps:,.0f}':>14} "
            f"{'-' if seconds is None else f'{seconds:.1f}':>10} {final_text:>26}"
        )
    return "\n".join(lines)

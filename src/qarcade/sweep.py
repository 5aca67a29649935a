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
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from qarcade.dqn.config import ALGOS, DQNConfig, build_config
from qarcade.errors import UserError
from qarcade.runs import RunDir
from qarcade.stats import band_over_runs, iqm, smoothed_on_grid, stratified_bootstrap_ci

SPEC_FILE = "sweep.json"
TRIALS_CSV = "trials.csv"
REPORT_JSON = "report.json"
CURVES_PNG = "learning_curves.png"
_DISTRIBUTIONS = ("uniform", "loguniform", "choice", "randint")


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
        unknown = [algo for algo in self.algos if algo not in ALGOS]
        if unknown or not self.algos:
            raise UserError(f"unknown algo {unknown}; choose from {', '.join(ALGOS)}")
        if self.seeds <= 0 or self.num_samples <= 0:
            raise UserError("seeds and num_samples must be positive")
        known = {f.name for f in dataclasses.fields(DQNConfig)}
        for section in ("fixed", "grid", "random"):
            for name in getattr(self, section):
                if name not in known or name in ("seed", "double", "dueling", "env"):
                    raise UserError(f"sweep [{section}]: {name!r} is not a field a sweep can set")
        for name, values in self.grid.items():
            if not isinstance(values, list) or not values:
                raise UserError(f"sweep [grid]: {name} needs a non-empty list of values")
        for name, dist in self.random.items():
            if not (
                isinstance(dist, dict) and len(dist) == 1 and next(iter(dist)) in _DISTRIBUTIONS
            ):
                raise UserError(
                    f"sweep [random]: {name} needs one of {', '.join(_DISTRIBUTIONS)}, "
                    "e.g. {loguniform = [1e-4, 1e-2]}"
                )

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def load_spec_file(path: str | Path) -> dict:
    """A TOML sweep file as a dict of SweepSpec fields (see docs/sweep.md for the format)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"sweep file {path} does not exist")
    try:
        values = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise UserError(f"sweep file {path} is not valid TOML: {error}") from None
    known = {f.name for f in dataclasses.fields(SweepSpec)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise UserError(f"sweep file {path}: unknown keys {', '.join(unknown)}")
    if "algos" in values:
        values["algos"] = tuple(values["algos"])
    return values


def read_spec(sweep_dir: str | Path) -> SweepSpec:
    """The spec a sweep directory was started with."""
    path = Path(sweep_dir) / SPEC_FILE
    if not path.is_file():
        raise UserError(f"{sweep_dir} is not a qarcade sweep directory (no {SPEC_FILE})")
    values = json.loads(path.read_text())
    return SweepSpec(**{**values, "algos": tuple(values["algos"])})


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
    summary = json.loads(path.read_text())
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
    log=print,
) -> dict:
    """Run (or resume) the sweep on Ray Tune, then write and return the aggregate report."""
    try:
        import ray
        from ray import tune
    except ImportError:
        raise UserError("qarcade sweep needs Ray Tune: pip install 'qarcade[sweep]'") from None

    sweep_dir = Path(sweep_dir).resolve()
    spec_path = sweep_dir / SPEC_FILE
    tune_dir = sweep_dir / "tune"
    if resume:
        spec = read_spec(sweep_dir)
    elif spec_path.exists():
        raise UserError(f"{sweep_dir} already holds a sweep: use --resume, or another --out")
    trials = expand_trials(spec, sweep_dir)
    if not resume:
        sweep_dir.mkdir(parents=True, exist_ok=True)
        spec_path.write_text(json.dumps(spec.to_dict(), indent=2))
    threads = max(1, int(cpus_per_trial))
    for trial in trials:  # a trial uses the cores Ray gives it, no more
        if not trial["config"]["torch_threads"]:
            trial["config"]["torch_threads"] = threads
    log(
        f"sweep: {len(trials)} trials ({len(spec.algos)} algos x {spec.seeds} seeds) in {sweep_dir}"
    )

    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    if not ray.is_initialized():
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    trainable = tune.with_resources(_run_trial, {"cpu": cpus_per_trial, "gpu": gpus_per_trial})
    if resume and tune.Tuner.can_restore(str(tune_dir)):
        tuner = tune.Tuner.restore(
            str(tune_dir), trainable, resume_unfinished=True, resume_errored=True
        )
    else:
        tuner = tune.Tuner(
            trainable,
            param_space={"trial": tune.grid_search(trials)},
            tune_config=tune.TuneConfig(
                max_concurrent_trials=max_concurrent,
                trial_dirname_creator=lambda t: t.config["trial"]["name"],
                trial_name_creator=lambda t: t.config["trial"]["name"],
            ),
            run_config=tune.RunConfig(
                name="tune", storage_path=str(sweep_dir), verbose=0, log_to_file=True
            ),
        )
    results = tuner.fit()
    errors = [str(result.error).splitlines()[0] for result in results if result.error]
    if errors:
        log(f"sweep: {len(errors)} trials failed; first: {errors[0]}")
    return write_report(sweep_dir)


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

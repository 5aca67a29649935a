"""``qarcade explain`` and ``qarcade plot``: what agents learned (``qarcade.explain``) and the
learning curves of several runs (``qarcade.curves``).

matplotlib and torch are imported only when a figure is drawn.
"""

from __future__ import annotations

from qarcade.cli.common import (
    command,
    discount,
    positive_int,
    seed_int,
    trust_checkpoint_flag,
)


def _explain_arguments(parser):
    """Draw what an agent learned, as a PNG. A run on any env but the gridworld: its
    Q-values along one greedy episode (seed --seed), one line per action, the chosen one
    marked (RUN_DIR/q_values.png). RUN_DIR (a gridworld run): for one layout (goals
    and fires of the reset with --seed), the hero is put on every other cell and the trained
    network's max_a Q is drawn as a heatmap with the greedy action as an arrow in each cell;
    for a dueling network (dueling, d3qn) the value stream V(s) and the advantages A(s, a)
    beside it, for a plain one the greedy margin and Q(s, a). `qarcade explain mdp` instead
    runs Q-learning on the lab's MDP (the run `qarcade mdp` prints, same --seed and --gamma)
    and draws its Q-table over the steps against Q*, with each state's margin: at gamma 0.99
    the margins settle long before the values do."""
    parser.add_argument(
        "target", metavar="RUN_DIR", help="a run directory, or mdp for the lab's MDP"
    )
    from qarcade import tabular

    parser.add_argument(
        "--out",
        metavar="FILE",
        help="figure to write, .png, .pdf or .svg (None: RUN_DIR/values.png, "
        "RUN_DIR/q_values.png for another env than the gridworld, or mdp_q.png)",
    )
    parser.add_argument(
        "--seed", type=seed_int, default=0, help="layout seed (mdp: Q-learning seed)"
    )
    parser.add_argument(
        "--device", choices=("auto", "cpu", "cuda"), default="cpu", help="where the network runs"
    )
    parser.add_argument("--gamma", type=discount, default=0.99, help="mdp: discount factor")
    parser.add_argument(
        "--steps",
        type=positive_int,
        default=tabular.Q_LEARNING_STEPS,
        help="mdp: Q-learning env steps",
    )
    parser.add_argument("--json", action="store_true", help="print the figures' numbers as JSON")
    trust_checkpoint_flag(parser)


@command("explain", help="draw what an agent learned: value map, or Q-learning vs Q*")(
    _explain_arguments
)
def _run_explain(args) -> int:
    import json
    import math
    from pathlib import Path

    from qarcade import explain
    from qarcade.runs import RunDir

    if args.target == "mdp" and not (Path("mdp") / "config.json").exists():
        out = Path(args.out or "mdp_q.png")
        explain.check_figure_path(out)
        conv = explain.q_learning_convergence(args.gamma, args.steps, args.seed)
        explain.draw_q_convergence(conv, out)
        error = conv.max_error()
        margins = conv.margins()[-1]
        if args.json:
            result = {"figure": str(out), "gamma": conv.gamma, "seed": conv.seed}
            result.update(env_steps=int(conv.steps[-1]), max_error=float(error[-1]))
            result["margins"] = [None if math.isnan(m) else float(m) for m in margins]
            print(json.dumps(result))
            return 0
        print(
            f"Q-learning on the lab's MDP, gamma {conv.gamma:g}, seed {conv.seed}: after "
            f"{conv.steps[-1]:,} steps max |Q - Q*| = {error[-1]:.2f} (from {error[0]:.2f}); "
            f"the optimal action's margin per state: {shown_margins(margins)}"
        )
        print(f"wrote {out}")
        return 0
    run = RunDir.open(args.target)  # a missing or wrong RUN_DIR is named before anything else
    if run.read_config().get("env") != "gridworld":
        return _explain_episode(args, run)
    out = _figure_path(args, run, "values.png")
    vm = explain.value_map(
        args.target, seed=args.seed, device=args.device, trust_checkpoint=args.trust_checkpoint
    )
    explain.draw_value_map(vm, out)
    if args.json:
        print(json.dumps({"figure": str(out), "seed": args.seed, **vm.to_dict()}))
        return 0
    arrows = "^v<>"
    print(f"{vm.algo}, layout seed {args.seed}: max_a Q and the greedy action per hero cell")
    for y in range(vm.size):
        cells = []
        for x in range(vm.size):
            if vm.greedy[y, x] < 0:
                cell = int(y * vm.size + x)
                cells.append(("goal" if cell in vm.cells[1:5] else "fire").rjust(7))
            else:
                cells.append(f"{vm.state_value[y, x]:6.2f}{arrows[vm.greedy[y, x]]}")
        print("  " + " ".join(cells))
    print(f"wrote {out}")
    return 0


def _figure_path(args, run, name: str):
    """Where the figure goes: ``--out``, else ``name`` in the run directory (never through a
    link planted there); checked before any work."""
    from pathlib import Path

    from qarcade import explain

    if not args.out:
        run.refuse_link(name)
    out = Path(args.out) if args.out else Path(args.target) / name
    explain.check_figure_path(out)
    return out


def _explain_episode(args, run) -> int:
    """A run on any env but the gridworld: Q-values along one greedy episode."""
    import json

    from qarcade import explain

    out = _figure_path(args, run, "q_values.png")
    trace = explain.q_trace(
        args.target, seed=args.seed, device=args.device, trust_checkpoint=args.trust_checkpoint
    )
    explain.draw_q_trace(trace, out)
    summary = trace.to_dict()
    if args.json:
        print(json.dumps({"figure": str(out), "seed": args.seed, **summary}))
        return 0
    total = len(trace.actions)
    chosen = ", ".join(
        f"{name} {count / total:.0%}"
        for name, count in zip(trace.action_names, summary["action_counts"], strict=True)
        if count
    )
    cut = "" if trace.ended else " (cut there)"
    print(
        f"{trace.algo} on {trace.env}, seed {args.seed}: one greedy episode of {total:,} steps"
        f"{cut}, return {summary['return']:g}; mean max_a Q {summary['mean_max_q']:.2f}; "
        f"chosen: {chosen}"
    )
    print(f"wrote {out}")
    return 0


def _plot_arguments(parser):
    """Draw the learning curves of several runs on one plot: each run's moving mean of the
    last goal_window training rewards (at most half the shortest run's episodes, so a short run
    shows its trend) on a common step grid (a point per episode end for short runs, marked);
    runs with the same label (by default the algo in their config.json, so several seeds of
    one variant) are averaged into one line with a band, drawn where at least two runs have a
    value: the range of the runs (each drawn thin) below 5 runs, a 95% bootstrap interval of
    the mean from 5. A label's line ends at its longest run's last episode."""
    parser.add_argument("run_dirs", metavar="RUN_DIR", nargs="+", help="run directories")
    parser.add_argument(
        "--out", metavar="FILE", default="learning_curves.png", help="figure: .png, .pdf or .svg"
    )
    parser.add_argument(
        "--label",
        action="append",
        help="once per RUN_DIR, in order; runs with one label share a band (None: each run's algo)",
    )
    parser.add_argument(
        "--window",
        type=positive_int,
        help="episodes in the moving mean (None: the first run's goal_window, 50 by default, "
        "or half the shortest run's episodes if fewer)",
    )
    parser.add_argument("--title", help="plot title (None: says what is drawn)")
    parser.add_argument("--json", action="store_true", help="print the curves' ends as JSON")


@command("plot", help="learning curves of several runs on one plot, mean and band")(_plot_arguments)
def _run_plot(args) -> int:
    import json

    import numpy as np

    from qarcade.curves import plot_runs

    title = args.title or ""
    curves = plot_runs(args.run_dirs, args.out, args.label, window=args.window, title=title)
    window = next(iter(curves.values()))["window"]
    summary = {
        label: {
            "runs": c["runs"],
            "final_mean": c["final_mean"],
            "last_step": float(c["steps"][np.isfinite(c["mean"])][-1]),
        }
        for label, c in curves.items()
    }
    if args.json:
        print(json.dumps({"figure": str(args.out), "window": window, "curves": summary}))
        return 0
    for label, entry in summary.items():
        final = entry["final_mean"]
        print(
            f"{label}: {entry['runs']} run(s), smoothed mean at step {entry['last_step']:,.0f}: "
            + ("-" if final is None else f"{final:.2f}")
        )
    print(f"wrote {args.out} (moving mean over {window} episode{'s' if window > 1 else ''})")
    return 0


def shown_margins(margins) -> str:
    """``0: 1.23, 1: 0.86, 2: none (one action)``: Q(s, optimal action) - best other, per state."""
    import math

    shown = [("none (one action)" if math.isnan(m) else f"{m:.2f}") for m in margins]
    return ", ".join(f"{state}: {text}" for state, text in enumerate(shown))

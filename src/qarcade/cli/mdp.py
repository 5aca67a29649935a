"""``qarcade mdp``: the lab's first part on its 3-state MDP, printed as tables or JSON.

The numbers come from ``qarcade.tabular.lab_report``; this module only parses and lays them out.
"""

from __future__ import annotations

import argparse

from qarcade.cli.common import command, discount, positive_int, seed_int


def _lr_power(text: str) -> float:
    value = float(text)
    if not 0.5 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in (0.5, 1], got {text}")
    return value


def _mdp_arguments(parser):
    """The lab's first part end to end on its 3-state MDP: the tables; the random, safe and
    risky policies evaluated over --episodes episodes of 100 steps (undiscounted totals, with
    their exact means); tabular Q-learning with uniformly random exploration, its greedy policy
    and its evaluation; Q-value iteration (the model is known) with Q* and the optimal policy;
    and a side-by-side comparison with each state's margin (best action minus runner-up).
    Q-learning's default, 50,000 steps with a per-visit step size n(s,a)^-0.85, reaches and holds
    the optimal policy at gamma 0.90 and 0.99; the lab's 20 steps visit each (state, action) a
    few times and learn nothing, and a constant step size never settles. At 0.99 the learned
    values still sit below Q* (their common level converges at a rate set by 1 - gamma) while
    their differences, which decide the policy, are already right. The many-seed study behind
    these defaults, and why gamma 0.95 is hard: docs/mdp.md.
    """
    from qarcade import tabular

    parser.add_argument(
        "--gamma", type=discount, default=0.99, help="discount factor in [0, 1) (the lab's)"
    )
    parser.add_argument(
        "--steps",
        type=positive_int,
        default=tabular.Q_LEARNING_STEPS,
        help="Q-learning environment steps (one continuing run from state 0)",
    )
    parser.add_argument(
        "--lr-power",
        type=_lr_power,
        default=tabular.LR_POWER,
        help="Q-learning step size n(s,a)^-POWER, POWER in (0.5, 1]",
    )
    parser.add_argument(
        "--episodes",
        type=positive_int,
        default=tabular.EVAL_EPISODES,
        help=f"evaluation episodes of {tabular.EPISODE_STEPS} steps per policy",
    )
    parser.add_argument("--seed", type=seed_int, default=0, help="seed of every random draw")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead")


def _cell(value, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _text_table(header: list[str], rows: list[list[str]], indent: str = "  ") -> str:
    """Columns aligned right, the first one left."""
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        cells = [str(row[0]).ljust(widths[0])]
        cells += [str(cell).rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        lines.append(indent + "  ".join(cells).rstrip())
    return "\n".join(lines)


def _mdp_text(report: dict) -> str:
    from qarcade.envs.mdp import mdp_table

    gamma, ql, qvi, cmp = (
        report["gamma"],
        report["q_learning"],
        report["q_value_iteration"],
        report["comparison"],
    )
    out = [
        f"The lab's MDP (start state 0; gamma {gamma:g}, seed {report['seed']})",
        "  T = P(s'|s,a), R = reward of the transition, r = expected reward;"
        " unlisted actions are impossible",
        "  "
        + mdp_table()
        .reset_index()
        .to_string(index=False, float_format=lambda v: f"{v:g}")
        .replace("\n", "\n  "),
        "",
        f"Policies over {report['episodes']} episodes of {report['episode_steps']} steps"
        " (undiscounted totals; exact mean by DP)",
    ]
    rows = [
        [name, *(_cell(s[k], 1) for k in ("mean", "std", "min", "max")), _cell(exact, 1)]
        for (name, s), exact in zip(
            report["policies"].items(), report["exact_means"].values(), strict=True
        )
    ]
    out += [_text_table(["policy", "mean", "std", "min", "max", "exact mean"], rows), ""]

    def q_rows(q):
        return [[str(s), *(_cell(v) for v in row)] for s, row in enumerate(q)]

    out += [
        f"Q-learning: {ql['env_steps']:,} steps, random exploration, step size"
        f" {ql['learning_rate']}; greedy policy {ql['policy']}",
        _text_table(["state", "a0", "a1", "a2"], q_rows(ql["q_values"])),
        "",
        f"Q-value iteration: Q* (exact to 1e-9); optimal policy {qvi['policy']}",
        _text_table(["state", "a0", "a1", "a2"], q_rows(qvi["q_values"])),
        "",
        "Q-learning (QL) vs Q*: err = Q - Q*; margin = Q(s, optimal action) - best other",
    ]
    rows = [
        [
            str(s),
            *(_cell(v) for v in cmp["q_error"][s]),
            str(ql["policy"][s]),
            str(qvi["policy"][s]),
            _cell(cmp["margin_q_learning"][s]),
            _cell(cmp["margin_q_star"][s]),
        ]
        for s in range(len(qvi["policy"]))
    ]
    header = ["state", "err a0", "err a1", "err a2", "QL act", "Q* act", "QL margin", "Q* margin"]
    out.append(_text_table(header, rows))
    out.append(
        f"  mean err {cmp['mean_error']:+.2f}: the common level of Q converges slowly as gamma"
        " nears 1;\n  the margins, which decide the policy, converge much sooner."
    )
    if cmp["policies_match"]:
        out.append("  Q-learning's greedy policy is the optimal one.")
    else:
        pairs = zip(ql["policy"], qvi["policy"], strict=True)
        states = [s for s, (learned, best) in enumerate(pairs) if learned != best]
        out.append(
            f"  Q-learning's greedy policy differs in state(s) {states}: where Q*'s margin is"
            " smaller\n  than Q-learning's error, the choice flips (see docs/mdp.md)."
        )
    return "\n".join(out)


@command("mdp", help="the lab's MDP: policies, Q-learning, Q-value iteration")(_mdp_arguments)
def _run_mdp(args) -> int:
    import json

    from qarcade.tabular import lab_report

    report = lab_report(
        gamma=args.gamma,
        env_steps=args.steps,
        n_episodes=args.episodes,
        seed=args.seed,
        lr_power=args.lr_power,
    )
    print(json.dumps(report) if args.json else _mdp_text(report))
    return 0

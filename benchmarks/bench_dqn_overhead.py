"""Where a DQN training step's wall time goes, with the lab's hyperparameters and CNN.

Runs the real training loop (``qarcade.dqn.train.train``) on the gridworld with the ``lab``
preset (or any ``--preset``, with ``--set field=value`` overrides and ``--device``; on a GPU each
update is followed by a device sync inside its timer, so the GPU's work is counted where it is
launched): the warm-up (5,000 uniform steps, no network) as one run, then resumes it and times,
over the learning phase only: the gradient updates (forward of online and target nets,
backward, Adam step: the network's floor), the acting forwards, and everything else (env steps,
replay writes and sampling, bookkeeping, logging). Prints the share of wall time outside the
network, the goal being under 10%.

    .venv/bin/python benchmarks/bench_dqn_overhead.py            # ~1 minute on 2 CPU cores
    .venv/bin/python benchmarks/bench_dqn_overhead.py --rounds 20 --json
    python3 benchmarks/bench_dqn_overhead.py --preset atari --device cuda --rounds 2000 \
        --set num_envs=16 --set warmup_steps=5000                  # Ms. Pac-Man on a GPU
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile

from timing import CALLS, SECONDS, timed  # benchmarks/timing.py

from qarcade.dqn.config import DQNConfig, build_config
from qarcade.dqn.device import q_function, resolve_device
from qarcade.dqn.envs import make_vector
from qarcade.dqn.learner import Learner
from qarcade.dqn.replay import ReplayBuffer
from qarcade.dqn.train import train as qarcade_train
from qarcade.envs.vector import SendAhead


def instrument(sync_cuda: bool = False) -> dict:
    """Timers around the loop's parts; returns the timed env builder and acting function for
    ``train``'s ``make_envs`` and ``make_q_function``."""
    update = Learner.update
    if sync_cuda:  # the update's kernels run after it returns: wait for them inside the timer
        import torch

        def update_and_sync(learner, batch, update=Learner.update):
            loss = update(learner, batch)
            torch.cuda.synchronize()
            return loss

        update = update_and_sync
    Learner.update = timed("network: gradient update", update)
    ReplayBuffer.sample_slots = timed("replay: sample (indices)", ReplayBuffer.sample_slots)
    ReplayBuffer.gather = timed("replay: sample (frames)", ReplayBuffer.gather)
    ReplayBuffer.add = timed("replay: add", ReplayBuffer.add)
    ReplayBuffer.latest_stacks = timed("replay: latest stacks", ReplayBuffer.latest_stacks)
    # Envs that step in the background (ale-py's, async) are handed the actions here; on a
    # shared CPU part of the emulation shows up as time in this call.
    SendAhead.send = timed("env: send ahead", SendAhead.send)

    def timed_q_function(network, device, **options):
        return timed("network: acting forward", q_function(network, device, **options))

    def timed_make_vector(config, num_envs):
        envs = make_vector(config, num_envs)
        envs.step = timed("env: step", envs.step)
        return envs

    return {"make_envs": timed_make_vector, "make_q_function": timed_q_function}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algo", default="dqn", help="the lab's own algorithm: dqn")
    parser.add_argument("--rounds", type=int, default=10, help="update rounds after warm-up")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = cores)")
    parser.add_argument("--preset", default="lab", help="named config (default: lab)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument(
        "--set", action="append", default=[], metavar="FIELD=VALUE", help="config override"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    base = build_config(args.preset, args.algo, parse_overrides(args.set))
    config = dataclasses.replace(
        base,
        max_steps=base.warmup_steps + args.rounds * base.train_every_steps,
        eval_every_steps=0,
        checkpoint_every_steps=0,
        final_eval_episodes=0,
        video=False,
        torch_threads=args.threads,
        device=args.device,
        goal=float("inf"),
    )
    hooks = instrument(sync_cuda=resolve_device(args.device).type == "cuda")
    with tempfile.TemporaryDirectory() as run_dir:
        # Warm-up (uniform play, no network) first, then time only the learning phase.
        warm = train(dataclasses.replace(config, max_steps=base.warmup_steps), run_dir, hooks)
        SECONDS.clear()
        CALLS.clear()
        summary = train(config, run_dir, hooks, resume=True)
    wall = summary["wall_seconds"] - warm["wall_seconds"]
    summary["env_steps"] -= warm["env_steps"]
    network = SECONDS["network: gradient update"] + SECONDS["network: acting forward"]
    rows = {name: {"seconds": s, "calls": CALLS[name]} for name, s in sorted(SECONDS.items())}
    other = wall - sum(SECONDS.values())
    rows["loop: everything else"] = {"seconds": other, "calls": 1}
    report = {
        "config": f"{args.preset} preset, {config.network} network, {config.env}, "
        f"{config.num_envs} envs, batch {config.batch_size}, on {summary['device']}",
        "algo": args.algo,
        "env_steps": summary["env_steps"],
        "grad_updates": CALLS["network: gradient update"],
        "wall_seconds": wall,
        "ms_per_update": 1000
        * SECONDS["network: gradient update"]
        / CALLS["network: gradient update"],
        "share_outside_network": (wall - network) / wall,
        "share_outside_gradient_updates": (wall - SECONDS["network: gradient update"]) / wall,
        "parts": rows,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(
        f"{report['config']} ({args.algo}): {summary['env_steps']:,} env steps, "
        f"{report['grad_updates']} updates in {wall:.1f} s "
        f"({report['ms_per_update']:.1f} ms per update of batch {config.batch_size})"
    )
    for name, row in sorted(rows.items(), key=lambda item: -item[1]["seconds"]):
        print(
            f"  {name:28s} {row['seconds']:7.2f} s  {100 * row['seconds'] / wall:5.1f}%  "
            f"({row['calls']:,} calls)"
        )
    print(f"share of wall time outside the network: {100 * report['share_outside_network']:.1f}%")
    print(
        "share outside the gradient updates (acting forwards counted as overhead): "
        f"{100 * report['share_outside_gradient_updates']:.1f}%"
    )


def parse_overrides(pairs: list[str]) -> dict:
    """["num_envs=16", "double=false"] -> {"num_envs": 16, "double": False}, typed by the field."""
    types = {f.name: f.type for f in dataclasses.fields(DQNConfig)}
    overrides = {}
    for pair in pairs:
        name, _, text = pair.partition("=")
        kind = types[name]
        if kind == "bool":
            overrides[name] = text.lower() in ("1", "true", "yes")
        else:
            overrides[name] = {"int": int, "float": float}.get(kind, str)(text)
    return overrides


def train(config, run_dir, hooks, resume=False):
    return qarcade_train(
        config, run_dir, resume=resume, progress=False, log=lambda *args: None, **hooks
    )


if __name__ == "__main__":
    main()

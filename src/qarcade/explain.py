"""Pictures of what an agent learned: value maps, the Q-table's road to Q*, layer summaries.

- **Value map** of a trained gridworld agent. Fix one layout (goals and fires, from a seeded
  reset), put the hero on every other cell in turn, and ask the network: the heatmap shows the
  state value max_a Q(s, a) of each hero cell, an arrow its greedy action. The observations are
  the environment's own pictures (``bordered_grids`` then ``upscale``), stacked as an episode's
  first frame fills the replay's stack, so the network sees exactly what it saw in training.
  For a dueling network (Wang et al. 2016, Q = V + A - mean A) the value stream V(s) and the
  advantage stream A(s, a) are read from the network's own head, not recomputed.
- **Q-values along one greedy episode** of a run on any other env (``q_trace``): one line per
  action, the chosen one marked.
- **Q-learning converging to Q*** on the lab's MDP: the Q-table recorded during one run of
  ``tabular.q_learning`` against Q* from ``tabular.q_value_iteration``, with each state's margin
  (the optimal action's value minus the best other), which decides the greedy policy.
- **A network's layers**: each leaf layer's output shape and parameter count.

The learning curves of several runs (``qarcade plot``) are in ``qarcade.curves``; their names
are re-exported here (``explain.plot_runs`` and the rest).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qarcade.curves import learning_curves, plot_runs, run_label, smoothing_window  # noqa: F401
from qarcade.errors import UserError
from qarcade.media import FIGURE_SUFFIXES, check_figure_path, pyplot, save_figure  # noqa: F401

ARROW_DXDY = ((0, -1), (0, 1), (-1, 0), (1, 0))  # gridworld actions 0..3 as (dx, dy) on screen


# --- the gridworld value map ---


def layout_cells(size: int = 5, seed: int = 0) -> np.ndarray:
    """The object cells (7,) (hero, 4 goals, 2 fires; flat ``y * size + x``) of the gridworld
    reset with ``seed``: the layout the value map is drawn for."""
    import gymnasium as gym

    import qarcade  # noqa: F401 - registers the environments

    env = gym.make("qarcade/GridWorld-v0", size=size)
    _, info = env.reset(seed=seed)
    env.close()
    xy = np.concatenate([info["hero"][None], info["goals"], info["fires"]])  # (7, 2) [x, y]
    return xy[:, 1] * size + xy[:, 0]


def hero_placements(cells: np.ndarray, size: int) -> np.ndarray:
    """Every state of the layout ``cells`` (7,) with the hero on a cell free of goals and fires:
    (K, 7) object cells, the hero's cell in column 0, in increasing order of that cell."""
    objects = np.asarray(cells)[1:]  # goals and fires stay where they are
    free = np.setdiff1d(np.arange(size * size), objects)  # (K,)
    states = np.empty((len(free), len(cells)), np.int64)
    states[:, 0] = free
    states[:, 1:] = objects
    return states


def gridworld_observations(
    states: np.ndarray, size: int, partial: bool, frame_shape: tuple[int, ...]
) -> np.ndarray:
    """The observations (K, *frame_shape) of states (K, 7), drawn by the environment's helpers:
    the bordered grid, the 3x3 window around the hero when ``partial``, scaled up to the frame
    when the observation is pixels (``frame_shape`` is the env's single observation shape)."""
    from qarcade.envs.gridworld import bordered_grids, partial_windows, upscale

    grids = bordered_grids(states, size)  # (K, size+2, size+2, 3)
    if partial:
        grids = partial_windows(grids, states[:, 0], size)  # (K, 3, 3, 3)
    if grids.shape[1:] == tuple(frame_shape):
        return grids  # the network reads grids (obs_type="grid")
    return upscale(grids, frame_shape[0])  # (K, 84, 84, 3)


@dataclass(frozen=True)
class ValueMap:
    """What a Q-network says about every hero cell of one gridworld layout.

    Arrays are indexed ``[y, x]`` (rows of the board, as drawn) and NaN on goal and fire cells.
    """

    size: int
    cells: np.ndarray  # (7,) the layout: hero (where the reset put it), goals, fires
    q_values: np.ndarray  # (size, size, A)
    value: np.ndarray | None  # (size, size) the dueling value stream V(s); None without one
    advantage: np.ndarray | None  # (size, size, A) the advantage stream, centred: Q = V + A
    algo: str = ""

    @property
    def state_value(self) -> np.ndarray:
        """max_a Q(s, a), (size, size)."""
        with np.errstate(invalid="ignore"):
            return np.max(self.q_values, axis=-1)

    @property
    def greedy(self) -> np.ndarray:
        """argmax_a Q(s, a), (size, size) int; -1 on goal and fire cells."""
        occupied = np.isnan(self.q_values).any(axis=-1)
        return np.where(occupied, -1, np.nan_to_num(self.q_values, nan=-np.inf).argmax(axis=-1))

    def to_dict(self) -> dict:
        def rows(array):
            return None if array is None else np.where(np.isnan(array), None, array).tolist()

        return {
            "algo": self.algo,
            "size": self.size,
            "hero": [int(self.cells[0] % self.size), int(self.cells[0] // self.size)],
            "goals": [[int(c % self.size), int(c // self.size)] for c in self.cells[1:5]],
            "fires": [[int(c % self.size), int(c // self.size)] for c in self.cells[5:]],
            "state_value": rows(self.state_value),
            "greedy": self.greedy.tolist(),
            "q_values": rows(self.q_values),
            "value": rows(self.value),
            "advantage": rows(self.advantage),
        }


def network_value_map(network, config, cells: np.ndarray, device="cpu") -> ValueMap:
    """The value map of ``network`` (a ``QNetwork`` built for ``config``) on layout ``cells``.

    A dueling head's two streams are captured with forward hooks during the same forward pass
    that computes Q, so V and A are the network's. A is stored centred (minus its mean over
    actions, as the head combines them), so that Q = V + A on every cell.
    """
    import torch

    from qarcade.dqn.envs import make_vector
    from qarcade.dqn.evaluate import FrameStacker
    from qarcade.dqn.networks import DuelingHead

    size = config.grid_size
    envs = make_vector(config, 1)
    frame_shape = tuple(envs.single_observation_space.shape)
    envs.close()
    states = hero_placements(cells, size)  # (K, 7)
    frames = gridworld_observations(states, size, config.partial, frame_shape)  # (K, *frame)
    stacks = FrameStacker(frames, config.frame_stack).stacks  # (K, k, *frame)

    streams: dict[str, torch.Tensor] = {}
    hooks = []
    if isinstance(network.head, DuelingHead):
        for name in ("value", "advantage"):
            module = getattr(network.head, name)
            hooks.append(
                module.register_forward_hook(
                    lambda _m, _in, out, name=name: streams.__setitem__(name, out.detach())
                )
            )
    try:
        with torch.no_grad():
            q = network(torch.from_numpy(stacks).to(device)).float().cpu().numpy()  # (K, A)
    finally:
        for hook in hooks:
            hook.remove()

    def on_board(per_state: np.ndarray) -> np.ndarray:  # (K, ...) -> (size, size, ...)
        board = np.full((size * size, *per_state.shape[1:]), np.nan)
        board[states[:, 0]] = per_state
        return board.reshape(size, size, *per_state.shape[1:])

    value = advantage = None
    if streams:
        value = on_board(streams["value"].float().cpu().numpy()[:, 0])  # (K, 1) -> (K,)
        advantage = streams["advantage"].float().cpu().numpy()  # (K, A)
        advantage = on_board(advantage - advantage.mean(axis=1, keepdims=True))
    return ValueMap(size, np.asarray(cells), on_board(q), value, advantage, config.algo)


def value_map(
    run_dir: str | Path, seed: int = 0, device: str = "cpu", trust_checkpoint: bool = False
) -> ValueMap:
    """The value map of a trained gridworld run (its checkpoint) for the layout of ``seed``.
    ``trust_checkpoint``: also load a checkpoint of an older qarcade (pickled: a run you trust)."""
    from qarcade.dqn.device import resolve_device
    from qarcade.dqn.evaluate import load_trained
    from qarcade.runs import RunDir

    env = RunDir.open(run_dir).read_config().get("env")
    if env != "gridworld":  # said before the checkpoint (and its replay) is read
        raise UserError(f"{run_dir} is a {env} run; value maps are drawn for gridworld")
    torch_device = resolve_device(device)
    config, network = load_trained(run_dir, torch_device, trust_checkpoint)
    cells = layout_cells(config.grid_size, seed)
    return network_value_map(network, config, cells, torch_device)


# Goals and fires are drawn in colours that no colour scale of the value map uses (values run on
# cividis, blue to yellow; advantages on purple-orange), with a black edge and their sign, so an
# object never reads as a value.
GOAL_COLOUR, FIRE_COLOUR = "#00c853", "#e8000b"
VALUE_CMAP, SIGNED_CMAP = "cividis", "PuOr"


def _ink(rgba) -> str:
    """Black or white, whichever reads on a cell of colour ``rgba``."""
    r, g, b, _ = rgba
    return "white" if 0.299 * r + 0.587 * g + 0.114 * b < 0.5 else "black"


def _draw_board(
    ax, plt, board: np.ndarray, vm: ValueMap, title: str, cmap: str, norm=None, label=""
):
    """One heatmap of the board (``label`` names its colour bar) with goal and fire cells in
    their own colours."""
    from matplotlib.patches import Rectangle

    image = ax.imshow(board, cmap=cmap, norm=norm, interpolation="nearest")
    bar = plt.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    bar.set_label(label, fontsize=8)
    size = vm.size
    if size <= 8:  # the figures are legible up to about 8x8 cells
        for y, x in zip(*np.nonzero(~np.isnan(board)), strict=True):
            ink = _ink(image.cmap(image.norm(board[y, x])))
            ax.text(x, y + 0.32, f"{board[y, x]:.2f}", ha="center", va="center", fontsize=7, c=ink)
    for slots, colour, mark in ((slice(1, 5), GOAL_COLOUR, "+1"), (slice(5, 7), FIRE_COLOUR, "-1")):
        for cell in vm.cells[slots]:
            x, y = cell % size, cell // size
            ax.add_patch(Rectangle((x - 0.5, y - 0.5), 1, 1, fc=colour, ec="black", lw=1.5))
            ax.text(x, y, mark, ha="center", va="center", color="black", fontsize=10, weight="bold")
    ax.set_xticks(range(size))
    ax.set_yticks(range(size))
    ax.set_xlim(-0.5, size - 0.5)
    ax.set_ylim(size - 0.5, -0.5)  # row 0 (y = 0, "up") at the top, as the game draws it
    ax.set_xlabel("hero x", fontsize=8)
    ax.set_ylabel("hero y", fontsize=8)
    ax.set_title(title, fontsize=10)


def _draw_arrows(ax, vm: ValueMap, image) -> None:
    greedy = vm.greedy
    for y, x in zip(*np.nonzero(greedy >= 0), strict=True):
        dx, dy = ARROW_DXDY[greedy[y, x]]
        ink = _ink(image.cmap(image.norm(vm.state_value[y, x])))
        ax.annotate(
            "",
            xy=(x + 0.3 * dx, y - 0.08 + 0.3 * dy),
            xytext=(x - 0.3 * dx, y - 0.08 - 0.3 * dy),
            arrowprops={"arrowstyle": "-|>", "color": ink, "lw": 1.8},
        )


def draw_value_map(vm: ValueMap, out: str | Path, *, title: str = "") -> Path:
    """Write the value map as a figure: max_a Q with greedy arrows; beside it V(s) for a dueling
    network (else the greedy margin, best minus runner-up); below, one panel per action of
    A(s, a) = Q(s, a) - V(s) (dueling: purple above 0, better than the mean move; orange below)
    or Q(s, a) (plain). Goals are green (+1), fires red (-1), outside every colour scale."""
    from matplotlib.colors import TwoSlopeNorm

    from qarcade.envs.gridworld import ACTION_NAMES

    figure_title = title
    out = check_figure_path(out)
    plt = pyplot()
    n_actions = vm.q_values.shape[-1]
    fig = plt.figure(figsize=(3.2 * n_actions, 7.2), dpi=100)
    grid = fig.add_gridspec(2, 2 * n_actions, height_ratios=(1.6, 1))
    half = n_actions
    ax_q = fig.add_subplot(grid[0, :half])
    title = "max_a Q(s, a) and the greedy action"
    _draw_board(ax_q, plt, vm.state_value, vm, title, VALUE_CMAP, label="max_a Q")
    _draw_arrows(ax_q, vm, ax_q.images[0])
    ax_right = fig.add_subplot(grid[0, half:])
    if vm.value is not None:
        title = "V(s), the dueling value stream"
        _draw_board(ax_right, plt, vm.value, vm, title, VALUE_CMAP, label="V")
        per_action, name = vm.advantage, "A"
    else:
        top2 = np.sort(vm.q_values, axis=-1)[..., -2:]  # NaN rows (goal, fire) stay NaN
        margin = top2[..., 1] - top2[..., 0]
        title = "greedy margin: best Q minus runner-up"
        _draw_board(ax_right, plt, margin, vm, title, VALUE_CMAP, label="margin")
        per_action, name = vm.q_values, "Q"
    finite = per_action[~np.isnan(per_action)]
    low, high = float(finite.min()), float(finite.max())
    norm = None
    if name == "A" and low < 0 < high:
        norm = TwoSlopeNorm(0.0, low, high)  # white = 0: purple better, orange worse than the mean
    for a in range(n_actions):
        ax = fig.add_subplot(grid[1, 2 * a : 2 * a + 2])
        label = ACTION_NAMES[a] if a < len(ACTION_NAMES) else str(a)
        cmap = SIGNED_CMAP if norm is not None else VALUE_CMAP
        _draw_board(ax, plt, per_action[..., a], vm, f"{name}(s, {label})", cmap, norm)
        if a:
            ax.set_ylabel("")  # the row's first panel names the axis; the panels are close
    hero_x, hero_y = vm.cells[0] % vm.size, vm.cells[0] // vm.size
    fig.suptitle(
        figure_title
        or f"{vm.algo}: the hero on each cell, goals (green, +1) and fires (red, -1) fixed "
        f"(the reset put the hero at x={hero_x}, y={hero_y})",
        fontsize=11,
    )
    fig.tight_layout()
    save_figure(fig, out)
    plt.close(fig)
    return out


# --- any other env: the Q-values along one greedy episode ---


@dataclass(frozen=True)
class QTrace:
    """One greedy episode of a trained agent: Q(s_t, a) for every step and action."""

    env: str
    algo: str
    seed: int
    q_values: np.ndarray  # (T, A) float32
    actions: np.ndarray  # (T,) the chosen (greedy) action
    rewards: np.ndarray  # (T,)
    action_names: tuple[str, ...]
    ended: bool  # the episode ended (else it was cut at the step limit)

    def to_dict(self) -> dict:
        counts = np.bincount(self.actions, minlength=self.q_values.shape[1])
        return {
            "env": self.env,
            "algo": self.algo,
            "steps": int(len(self.actions)),
            "return": float(self.rewards.sum()),
            "ended": self.ended,
            "mean_max_q": float(self.q_values.max(axis=1).mean()),
            "action_names": list(self.action_names),
            "action_counts": counts.tolist(),
        }


def action_names(env: str, n_actions: int) -> tuple[str, ...]:
    """An Atari game's own action names (NOOP, FIRE, ...); else the actions' numbers."""
    from qarcade.envs.resolve import resolve_env

    if resolve_env(env).family == "atari":
        from qarcade.envs.atari_play import _action_meanings

        return _action_meanings(env)
    return tuple(str(a) for a in range(n_actions))


def q_trace(
    run_dir: str | Path,
    seed: int = 0,
    device: str = "cpu",
    trust_checkpoint: bool = False,
    max_steps: int = 5_000,
) -> QTrace:
    """Play one greedy episode (at most ``max_steps`` steps) of a trained run on its evaluation
    env seeded ``seed``, recording the network's Q-values at each step. Frames are stacked as
    the evaluation stacks them."""
    import torch

    from qarcade.dqn.device import resolve_device
    from qarcade.dqn.envs import make_vector
    from qarcade.dqn.evaluate import FrameStacker, load_trained

    torch_device = resolve_device(device)
    config, network = load_trained(run_dir, torch_device, trust_checkpoint)
    envs = make_vector(config, 1, evaluation=True)
    frames, _ = envs.reset(seed=seed)
    stacker = FrameStacker(frames, config.frame_stack)
    q_values, actions, rewards, ended = [], [], [], False
    with torch.no_grad():
        while len(actions) < max_steps and not ended:
            obs = torch.from_numpy(stacker.stacks).to(torch_device)
            q = network(obs).float().cpu().numpy()[0]  # (A,)
            action = int(q.argmax())
            frames, reward, terminated, truncated, _ = envs.step(np.array([action]))
            q_values.append(q)
            actions.append(action)
            rewards.append(float(reward[0]))
            ended = bool(terminated[0] or truncated[0])
            stacker.push(frames, np.zeros(1, bool))
    envs.close()
    q_values = np.array(q_values, np.float32)
    names = action_names(config.env, q_values.shape[1])
    return QTrace(
        config.env, config.algo, seed, q_values, np.array(actions), np.array(rewards), names, ended
    )


def draw_q_trace(trace: QTrace, out: str | Path) -> Path:
    """One line per action of Q(s_t, a) over the episode's steps; the chosen action's value at
    each step marked on its line."""
    out = check_figure_path(out)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(9, 4.5), dpi=100)
    steps = np.arange(len(trace.actions))
    for a, name in enumerate(trace.action_names):
        (line,) = ax.plot(steps, trace.q_values[:, a], lw=1, label=f"Q(s, {name})")
        chosen = trace.actions == a
        ax.plot(steps[chosen], trace.q_values[chosen, a], ".", ms=4, color=line.get_color())
    ax.set_xlabel("step of the episode")
    ax.set_ylabel("Q(s_t, a)")
    cut = "" if trace.ended else f", cut at {len(steps):,} steps"
    ax.set_title(
        f"{trace.algo} on {trace.env}: Q-values along one greedy episode (seed {trace.seed}, "
        f"return {trace.rewards.sum():g}{cut}); dots: the chosen action",
        fontsize=10,
    )
    ax.legend(fontsize=8, ncol=min(len(trace.action_names), 6), loc="best")
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out


# --- the MDP: Q-learning's Q-table converging to Q* ---


@dataclass(frozen=True)
class QConvergence:
    """One Q-learning run on the lab's MDP, recorded, beside Q*."""

    gamma: float
    seed: int
    steps: np.ndarray  # (K,) env steps at each record
    history: np.ndarray  # (K, S, A) Q-tables, -inf where an action is not possible
    q_star: np.ndarray  # (S, A)

    def margins(self) -> np.ndarray:
        """(K, S) per record and state: Q(s, optimal action) - best other; NaN with one action."""
        from qarcade.tabular import greedy_policy, margins

        optimal = greedy_policy(self.q_star)
        per_record = [margins(q, optimal) for q in self.history]
        return np.array([[np.nan if m is None else m for m in row] for row in per_record])

    def max_error(self) -> np.ndarray:
        """(K,) max over possible (s, a) of |Q - Q*|."""
        from qarcade.envs.mdp import ACTION_MASK

        return np.abs(self.history[:, ACTION_MASK] - self.q_star[ACTION_MASK]).max(axis=1)


def q_learning_convergence(
    gamma: float = 0.99,
    env_steps: int | None = None,
    seed: int = 0,
    lr_power: float | None = None,
    records: int = 200,
) -> QConvergence:
    """Q-learning on the lab's MDP with its Q-table recorded ``records`` times, and Q*.

    The run draws from the same stream as ``qarcade mdp --seed SEED`` (the first child of the
    seed's SeedSequence), so its last table is the one that command prints.
    """
    from qarcade import tabular

    env_steps = tabular.Q_LEARNING_STEPS if env_steps is None else int(env_steps)
    lr_power = tabular.LR_POWER if lr_power is None else lr_power
    if records < 1:
        raise UserError(f"records must be positive, got {records}")
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])
    result = tabular.q_learning(
        gamma, [rng], env_steps, lr_power, record_every=max(1, env_steps // records)
    )
    q_star = tabular.q_value_iteration(gamma)
    return QConvergence(gamma, seed, result.history_steps, result.history[:, 0], q_star)


def draw_q_convergence(conv: QConvergence, out: str | Path) -> Path:
    """Write the figure: left, each possible Q(s, a) over steps (solid) and Q*(s, a) (dashed,
    same colour); right, each state's margin, which decides the greedy policy, against Q*'s."""
    from qarcade.envs.mdp import ACTION_MASK, N_STATES
    from qarcade.tabular import greedy_policy, margins

    out = check_figure_path(out)
    plt = pyplot()
    fig, (ax_q, ax_m) = plt.subplots(1, 2, figsize=(12, 4.6), dpi=100)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (s, a) in enumerate(zip(*np.nonzero(ACTION_MASK), strict=True)):
        colour = colours[i % len(colours)]
        ax_q.plot(conv.steps, conv.history[:, s, a], color=colour, lw=1.6, label=f"Q(s{s}, a{a})")
        ax_q.axhline(conv.q_star[s, a], color=colour, ls="--", lw=1)
    ax_q.set_xlabel("Q-learning env steps")
    ax_q.set_ylabel("value")
    ax_q.set_title(f"Q-table (solid) and Q* (dashed), gamma {conv.gamma:g}", fontsize=10)
    ax_q.legend(fontsize=8, ncol=2, loc="lower right")
    ax_q.grid(alpha=0.3)
    learned = conv.margins()  # (K, S)
    star = margins(conv.q_star, greedy_policy(conv.q_star))
    for s in range(N_STATES):
        if star[s] is None:
            continue  # one possible action: no choice to make
        colour = colours[s % len(colours)]
        ax_m.plot(conv.steps, learned[:, s], color=colour, lw=1.6, label=f"state {s}")
        ax_m.axhline(star[s], color=colour, ls="--", lw=1)
    ax_m.axhline(0.0, color="k", lw=0.8)
    ax_m.set_xlabel("Q-learning env steps")
    ax_m.set_ylabel("Q(s, optimal a) - best other")
    ax_m.set_title("margin (below 0: the greedy choice is wrong); Q*'s dashed", fontsize=10)
    ax_m.legend(fontsize=8)
    ax_m.grid(alpha=0.3)
    fig.suptitle(f"Q-learning on the lab's MDP (seed {conv.seed}) converging to Q*", fontsize=11)
    fig.tight_layout()
    save_figure(fig, out)
    plt.close(fig)
    return out


# --- a network's layers ---


def layer_name(module, path: str = "") -> str:
    """A layer as the lab writes it: ``conv 32 8x8/4`` (filters, kernel, stride), ``dense 256``
    (units), ``flatten``; a dueling head's layers say their stream, ``dense 4 (advantage)``.
    A conv is named for what it computes, however it is implemented (``WholeMapConv2d``,
    ``CellConv2d`` are convs)."""
    from torch import nn

    if isinstance(module, nn.Conv2d):
        (kh, kw), (stride, _) = module.kernel_size, module.stride
        name = f"conv {module.out_channels} {kh}x{kw}/{stride}"
    elif isinstance(module, nn.Linear):
        name = f"dense {module.out_features}"
    else:
        name = type(module).__name__.lower()
    stream = path.rsplit(".", 1)[-1]
    return f"{name} ({stream})" if stream in ("advantage", "value") else name


def network_summary(network, observation_shape: tuple[int, ...], observation_dtype="uint8"):
    """Each layer of ``network`` with its output shape and parameter count, as a DataFrame, from
    one forward pass of a zero observation (1, *observation_shape); the last row is the total.
    ``observation_shape`` is what the network takes per sample, e.g. (k, 84, 84, 3).

    Columns: ``layer`` (``layer_name``: the lab's names, conv 32 8x8/4 ... dense 4),
    ``output shape``, ``parameters`` and ``module`` (where it is in the network, e.g.
    ``torso.0``). Activations (ReLU) are left out, as the lab lists a layer with its activation.
    """
    import pandas as pd
    import torch
    from torch import nn

    rows, hooks = [], []
    for name, module in network.named_modules():
        if next(module.children(), None) is not None or isinstance(module, nn.ReLU):
            continue  # containers: their leaves are listed; activations: part of their layer

        def record(module, _inputs, output, name=name):
            params = sum(p.numel() for p in module.parameters())
            rows.append((layer_name(module, name), tuple(output.shape[1:]), params, name))

        hooks.append(module.register_forward_hook(record))
    try:
        dummy = torch.zeros((1, *observation_shape), dtype=getattr(torch, str(observation_dtype)))
        with torch.no_grad():
            network(dummy)
    finally:
        for hook in hooks:
            hook.remove()
    table = pd.DataFrame(rows, columns=["layer", "output shape", "parameters", "module"])
    total = sum(p.numel() for p in network.parameters())
    table.loc[len(table)] = ["total", "", total, ""]
    return table

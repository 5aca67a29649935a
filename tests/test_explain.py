"""Pictures of what an agent learned: the value map's observations and board layout, the dueling
streams, Q-learning's road to Q*, learning curves of several runs, and the two commands."""

import json

import gymnasium as gym
import matplotlib.image
import numpy as np
import pytest
import torch
from tiny_runs import tiny
from torch import nn

from qarcade import explain
from qarcade.cli import main
from qarcade.dqn.envs import make_vector
from qarcade.dqn.networks import network_for
from qarcade.dqn.train import train
from qarcade.envs.gridworld import FRAME_PX, GridCore
from qarcade.errors import UserError
from qarcade.runs import METRICS, RunDir
from qarcade.tabular import lab_report

SHORT = dict(epsilon_decay_steps=200, final_eval_episodes=0, max_steps=400, seed=0)


def read_png(path):
    """(H, W, channels) floats in [0, 1]; fails if the file is not a PNG."""
    return matplotlib.image.imread(str(path), format="png")


def assert_picture(path, min_width=400):
    image = read_png(path)
    assert image.shape[1] >= min_width and image.shape[0] >= 200
    rgb = image[..., :3].reshape(-1, 3)
    assert rgb.std() > 0.05, "blank picture"
    assert len(np.unique((rgb * 255).astype(np.uint8), axis=0)) > 20, "too few colours"


def config(**changes):
    return tiny(changes.pop("algo", "d3qn"), **{**SHORT, **changes})


# --- the value map's observations are the environment's ---


@pytest.mark.parametrize("partial", [False, True])
@pytest.mark.parametrize("size", [5, 4])
def test_observations_equal_the_env_frames(size, partial):
    cells = explain.layout_cells(size, seed=7)
    states = explain.hero_placements(cells, size)
    core = GridCore(len(states), size, partial)
    core.cells[:] = states
    expected = core.frames()  # (K, 84, 84, 3) as the env draws them
    drawn = explain.gridworld_observations(states, size, partial, (FRAME_PX, FRAME_PX, 3))
    np.testing.assert_array_equal(drawn, expected)


def test_layout_is_the_seeded_reset_and_the_hero_visits_every_free_cell():
    size = 5
    cells = explain.layout_cells(size, seed=11)
    _, info = gym.make("qarcade/GridWorld-v0", size=size).reset(seed=11)
    hero_x, hero_y = info["hero"]
    assert cells[0] == hero_y * size + hero_x
    assert [c % size for c in cells[1:5]] == info["goals"][:, 0].tolist()
    states = explain.hero_placements(cells, size)
    assert len(states) == size * size - 6  # every cell but 4 goals and 2 fires
    assert (states[:, 1:] == cells[1:]).all()  # goals and fires stay put
    assert not np.isin(states[:, 0], cells[1:]).any()
    assert cells[0] in states[:, 0]


class CellReader(nn.Module):
    """A stub Q-network that finds the hero (blue) cell in the frame and returns Q with a known
    argmax: action (cell % 4) gets 1 + cell / 100, the others cell / 100."""

    def __init__(self, size):
        super().__init__()
        self.size = size
        self.head = nn.Identity()  # not dueling

    def forward(self, obs):  # (B, k, 84, 84, 3) uint8
        frame = obs[:, -1].float()
        centres = (torch.arange(self.size + 2) * FRAME_PX + FRAME_PX // 2) // (self.size + 2)
        blue = frame[:, centres][:, :, centres][..., 2] > 0  # (B, H, H) bordered cells
        blue[:, 0] = blue[:, -1] = blue[:, :, 0] = blue[:, :, -1] = False  # the white border
        flat = blue[:, 1:-1, 1:-1].reshape(len(obs), -1).float().argmax(dim=1)  # (B,)
        q = (flat.float() / 100)[:, None].repeat(1, 4)
        q[torch.arange(len(obs)), flat % 4] += 1.0
        return q


def test_value_map_puts_each_hero_cell_where_it_belongs():
    cfg = config(grid_size=5, network="tiny", algo="dqn")
    cells = explain.layout_cells(5, seed=3)
    vm = explain.network_value_map(CellReader(5), cfg, cells)
    assert vm.value is None and vm.advantage is None
    for y in range(5):
        for x in range(5):
            cell = y * 5 + x
            if cell in cells[1:]:
                assert np.isnan(vm.q_values[y, x]).all() and vm.greedy[y, x] == -1
            else:
                assert vm.greedy[y, x] == cell % 4
                assert vm.state_value[y, x] == pytest.approx(1 + cell / 100)


def test_dueling_streams_come_from_the_network_and_add_up_to_q():
    cfg = config(grid_size=5, algo="d3qn", frame_stack=2)
    envs = make_vector(cfg, 1)
    torch.manual_seed(0)
    network = network_for(cfg, envs.single_observation_space, envs.single_action_space).eval()
    envs.close()
    cells = explain.layout_cells(5, seed=1)
    vm = explain.network_value_map(network, cfg, cells)
    free = ~np.isnan(vm.state_value)
    assert free.sum() == 19
    np.testing.assert_allclose(vm.advantage[free].mean(axis=-1), 0.0, atol=1e-6)  # centred
    combined = vm.value[..., None] + vm.advantage  # Q = V + A - mean A, A stored centred
    np.testing.assert_allclose(combined[free], vm.q_values[free], atol=1e-5)
    raw = network.head.advantage  # and A is the stream's own output, not Q - V recomputed
    with torch.no_grad():
        network.head.advantage = nn.Linear(raw.in_features, 4)
        nn.init.zeros_(network.head.advantage.weight)
        nn.init.zeros_(network.head.advantage.bias)
    flat = explain.network_value_map(network, cfg, cells)
    np.testing.assert_allclose(flat.advantage[free], 0.0)
    np.testing.assert_allclose(flat.q_values[free], flat.value[free][:, None].repeat(4, 1))
    network.head.advantage = raw
    # and Q is what the network says about the env's own (stacked) observation of that state
    y, x = np.argwhere(free)[0]
    states = explain.hero_placements(cells, 5)
    state = states[states[:, 0] == y * 5 + x]
    core = GridCore(1, 5)
    core.cells[:] = state
    stack = np.repeat(core.frames()[:, None], 2, axis=1)  # an episode's first stack
    with torch.no_grad():
        q = network(torch.from_numpy(stack)).numpy()[0]
    np.testing.assert_allclose(vm.q_values[y, x], q, atol=1e-5)
    assert not network.head.value._forward_hooks, "hooks are removed"


@pytest.mark.parametrize("algo", ["dqn", "dueling"])
def test_draw_value_map_writes_a_picture(tmp_path, algo):
    cfg = config(grid_size=5, algo=algo)
    envs = make_vector(cfg, 1)
    network = network_for(cfg, envs.single_observation_space, envs.single_action_space)
    envs.close()
    vm = explain.network_value_map(network, cfg, explain.layout_cells(5, seed=0))
    out = explain.draw_value_map(vm, tmp_path / "values.png")
    assert_picture(out, min_width=1000)
    document = vm.to_dict()
    json.dumps(document)  # JSON-ready: NaN became null
    assert document["value"] is None if algo == "dqn" else len(document["value"]) == 5


def test_value_maps_are_for_gridworld_runs(tmp_path):
    RunDir.create(tmp_path / "atari", {**config().to_dict(), "env": "mspacman"})
    with pytest.raises(UserError, match="is a mspacman run; value maps are drawn for gridworld"):
        explain.value_map(tmp_path / "atari")  # no checkpoint needed to say so


def test_figure_path_errors(tmp_path):
    with pytest.raises(UserError, match="must end in .png, .pdf or .svg"):
        explain.check_figure_path(tmp_path / "values.txt")
    with pytest.raises(UserError, match="does not exist"):
        explain.check_figure_path(tmp_path / "missing" / "values.png")


# --- the MDP: Q-learning's Q-table on its way to Q* ---


def test_q_learning_history_ends_at_the_table_qarcade_mdp_prints():
    conv = explain.q_learning_convergence(gamma=0.9, env_steps=3000, seed=5, records=30)
    report = lab_report(gamma=0.9, env_steps=3000, n_episodes=10, seed=5)
    printed = np.array(report["q_learning"]["q_values"], dtype=float)  # None -> nan
    last = np.where(np.isinf(conv.history[-1]), np.nan, conv.history[-1])
    np.testing.assert_allclose(last, printed)
    assert conv.steps[0] == 0 and conv.steps[-1] == 3000 and len(conv.steps) == 31
    q_star = np.where(np.isinf(conv.q_star), np.nan, conv.q_star)
    np.testing.assert_allclose(q_star, np.array(report["q_value_iteration"]["q_values"], float))


def test_q_learning_approaches_q_star_and_its_margins_settle(tmp_path):
    conv = explain.q_learning_convergence(gamma=0.9, env_steps=50_000, seed=0)
    error = conv.max_error()
    assert error[0] == pytest.approx(np.abs(conv.q_star[np.isfinite(conv.q_star)]).max())
    assert error[-1] < 0.05 * error[0]  # at gamma 0.9, 50k steps get within a few percent
    margins = conv.margins()
    assert np.isnan(margins[:, 2]).all()  # state 2 has one action: no margin
    assert (margins[-1, :2] > 0).all()  # the greedy policy is the optimal one
    assert_picture(explain.draw_q_convergence(conv, tmp_path / "mdp.png"))


# --- learning curves of several runs ---


def fake_run(path, algo, rewards, seed=0, step_every=50):
    run = RunDir.create(path, config(algo=algo, seed=seed, grid_size=5).to_dict())
    rows = [(i + 1, (i + 1) * step_every, r, 50, 0.1, 0.0, 0.0) for i, r in enumerate(rewards)]
    run.append_rows(METRICS, rows)
    return path


def test_runs_group_by_algo_into_one_band(tmp_path):
    runs = [
        fake_run(tmp_path / "a", "dqn", [1.0] * 20, seed=0),
        fake_run(tmp_path / "b", "dqn", [3.0] * 20, seed=1),
        fake_run(tmp_path / "c", "d3qn", [5.0] * 10),
    ]
    curves = explain.learning_curves(runs, points=11)  # 20 episode ends > 11: an even grid
    assert list(curves) == ["dqn", "d3qn"]
    dqn, d3qn = curves["dqn"], curves["d3qn"]
    assert dqn["runs"] == 2 and d3qn["runs"] == 1
    np.testing.assert_allclose(dqn["steps"], np.linspace(0, 1000, 11))
    assert np.isnan(dqn["mean"][0])  # no episode finished at step 0
    np.testing.assert_allclose(dqn["mean"][1:], 2.0)
    assert (dqn["low"][1:] >= 1.0).all() and (dqn["high"][1:] <= 3.0).all()
    assert dqn["low"][-1] < 2.0 < dqn["high"][-1]  # two different runs: a band of width > 0
    assert dqn["final_mean"] == pytest.approx(2.0) and d3qn["final_mean"] == pytest.approx(5.0)
    labelled = explain.learning_curves(runs, ["x", "y", "x"])
    assert {label: c["runs"] for label, c in labelled.items()} == {"x": 2, "y": 1}


def test_moving_mean_uses_the_goal_window(tmp_path):
    run = fake_run(tmp_path / "a", "dqn", [0.0] * 10 + [10.0] * 10)
    curve = explain.learning_curves([run], points=5, window=5)["dqn"]
    assert curve["final_mean"] == pytest.approx(10.0)
    curve = explain.learning_curves([run], points=5, window=20)["dqn"]
    assert curve["final_mean"] == pytest.approx(5.0)


def test_plot_runs_draws_and_rejects_mistakes(tmp_path):
    runs = [fake_run(tmp_path / f"r{s}", "dqn", list(np.linspace(0, 15, 40)), s) for s in (0, 1)]
    assert_picture(explain.plot_runs(runs, tmp_path / "curves.png") and tmp_path / "curves.png")
    with pytest.raises(UserError, match="one --label per run"):
        explain.learning_curves(runs, ["only one"])
    empty = RunDir.create(tmp_path / "empty", config().to_dict()).path
    with pytest.raises(UserError, match="no finished episode"):
        explain.learning_curves([empty])
    with pytest.raises(UserError, match="not a run directory"):
        explain.learning_curves([tmp_path])


# --- the commands ---


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    quiet = dict(progress=False, log=lambda *a: None)
    for algo in ("dqn", "d3qn"):
        train(config(algo=algo), root / algo, **quiet)
    return root


def test_qarcade_explain_run(trained, capsys):
    assert main(["explain", str(trained / "d3qn"), "--seed", "2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "d3qn, layout seed 2: max_a Q and the greedy action per hero cell"
    assert len(out) == 1 + 3 + 1  # a row per board row (size 3), then the file
    assert sum(line.count("goal") for line in out[1:4]) == 4
    assert sum(line.count("fire") for line in out[1:4]) == 2
    assert_picture(trained / "d3qn" / "values.png", min_width=1000)
    out_file = trained / "dqn.png"
    assert main(["explain", str(trained / "dqn"), "--out", str(out_file), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["algo"] == "dqn" and document["value"] is None
    assert sum(row.count(-1) for row in document["greedy"]) == 6
    assert_picture(out_file, min_width=1000)


def test_qarcade_explain_mdp(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["explain", "mdp", "--steps", "2000", "--gamma", "0.9"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("Q-learning on the lab's MDP, gamma 0.9, seed 0: after 2,000 steps")
    assert lines[0].endswith(", 2: none (one action)")  # state 2 has no other action to trail
    assert lines[-1] == "wrote mdp_q.png"
    assert_picture(tmp_path / "mdp_q.png")
    assert main(["explain", "mdp", "--steps", "2000", "--out", "q.svg", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["env_steps"] == 2000 and document["margins"][2] is None
    assert (tmp_path / "q.svg").read_text().lstrip().startswith("<?xml")


def test_qarcade_plot(trained, tmp_path, capsys):
    runs = [str(trained / "dqn"), str(trained / "d3qn")]
    out = tmp_path / "curves.png"
    assert main(["plot", *runs, "--out", str(out), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert set(document["curves"]) == {"dqn", "d3qn"}
    assert all(c["runs"] == 1 for c in document["curves"].values())
    assert_picture(out)
    assert main(["plot", *runs, "--label", "same", "--label", "same", "--out", str(out)]) == 0
    assert capsys.readouterr().out.startswith("same: 2 run(s), smoothed mean at step")


@pytest.mark.parametrize(
    "args, message",
    [
        (["explain", "no/such/run"], "no/such/run is not a directory"),
        (["explain", "RUN", "--out", "values.txt"], "must end in .png, .pdf or .svg"),
        (["explain", "mdp", "--out", "no/such/dir/q.png"], "does not exist"),
        (["plot", "RUN", "--label", "a", "--label", "b"], "one --label per run directory"),
        (["plot", "no/such/run"], "is not a directory"),
    ],
)
def test_mistakes_are_one_line_errors(trained, capsys, args, message):
    args = [str(trained / "dqn") if a == "RUN" else a for a in args]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


# --- a network's layers ---


@pytest.mark.parametrize("dueling, total", [(False, 1_814_436), (True, 1_683_365)])
def test_network_summary_of_the_lab_cnn(dueling, total):
    from qarcade.dqn.networks import build_q_network

    network = build_q_network("lab", dueling, (84, 84, 3), np.uint8, 1, 4)
    table = explain.network_summary(network, (1, 84, 84, 3))
    assert table["parameters"].iloc[-1] == total  # the lab's figures
    assert table["parameters"].iloc[:-1].sum() == total  # every parameter in some leaf layer
    shapes = dict(zip(table["module"], table["output shape"], strict=True))
    assert shapes["torso.0"] == (32, 20, 20) and shapes["torso.6"] == (512, 1, 1)
    if dueling:
        assert (shapes["head.value"], shapes["head.advantage"]) == ((1,), (4,))
    else:
        assert shapes["head.net.0"] == (256,) and shapes["head.net.2"] == (4,)
    # the lab's names, whatever computes them (conv 4 is a WholeMapConv2d, a dense layer)
    convs = ["conv 32 8x8/4", "conv 64 4x4/2", "conv 64 3x3/1", "conv 512 7x7/1", "flatten"]
    head = ["dense 1 (value)", "dense 4 (advantage)"] if dueling else ["dense 256", "dense 4"]
    assert list(table["layer"]) == [*convs, *head, "total"]
    assert not any(m._forward_hooks for m in network.modules()), "hooks are removed"


def test_goals_and_fires_have_colours_no_scale_of_the_value_map_uses():
    import matplotlib

    for cmap in (explain.VALUE_CMAP, explain.SIGNED_CMAP):
        scale = matplotlib.colormaps[cmap](np.linspace(0, 1, 256))[:, :3]  # (256, 3)
        for colour in (explain.GOAL_COLOUR, explain.FIRE_COLOUR):
            rgb = np.array(matplotlib.colors.to_rgb(colour))
            assert np.abs(scale - rgb).max(axis=1).min() > 0.25, (cmap, colour)

"""Replay index arithmetic: frames whose pixels are their slot number, checked by arithmetic.

Two envs with different episode lengths and ends (env 0 truncates after 4 steps, env 1
terminates after 3), next-step autoreset: an episode of L steps fills L + 1 slots (the last
holds the final frame, whose step only resets). Slot s of env e shows pixel 100 * s + e.
"""

import numpy as np
import pytest

from qarcade.dqn.replay import ReplayBuffer, nstep_returns

LENGTH = {0: 4, 1: 3}
TERMINATES = {0: False, 1: True}
GAMMA = 0.5


def frame(slot, env):
    return np.array([100 * slot + env], np.int64)


def reward(slot, env):
    return float(slot + 1 + 0.5 * env)


def position(slot, env):
    """Index of ``slot`` inside its episode's L + 1 slots (L = the final frame)."""
    return slot % (LENGTH[env] + 1)


def fill(replay, steps):
    replay.start(np.stack([frame(0, e) for e in (0, 1)]))
    for s in range(steps):
        actions, rewards, term, trunc = [], [], [], []
        for e in (0, 1):
            p = position(s, e)
            final = p == LENGTH[e]
            ends = p == LENGTH[e] - 1
            actions.append(s % 4)
            rewards.append(0.0 if final else reward(s, e))
            term.append(ends and TERMINATES[e])
            trunc.append(ends and not TERMINATES[e])
        next_frames = np.stack([frame(s + 1, e) for e in (0, 1)])
        replay.add(
            np.array(actions), np.array(rewards), np.array(term), np.array(trunc), next_frames
        )


def expected_stack(slot, env, k):
    start = slot - position(slot, env)
    return [100 * max(slot - j, start) + env for j in range(k - 1, -1, -1)]


def expected_target(slot, env, n):
    """(n-step return, bootstrap slot, discount) by the episode schedule, not by flags."""
    left = LENGTH[env] - position(slot, env)  # steps left in the episode, including slot's
    steps = min(n, left)
    ret = sum(GAMMA**m * reward(slot + m, env) for m in range(steps))
    ends_inside = left <= n
    discount = 0.0 if ends_inside and TERMINATES[env] else GAMMA**steps
    return ret, slot + steps, discount


def make(capacity_per_env=12, k=3, n=3):
    return ReplayBuffer(capacity_per_env * 2, 2, (1,), np.int64, k, n, GAMMA)


@pytest.mark.parametrize("k,n", [(1, 1), (3, 3), (4, 2)])
@pytest.mark.parametrize("steps", [5, 11, 40])  # before, at and long after the wrap-around
def test_every_sample_matches_the_arithmetic(k, n, steps):
    replay = make(k=k, n=n)
    fill(replay, steps)
    batch = replay.sample(512, np.random.default_rng(0))
    oldest = max(0, replay.cursor - replay.slots + 1)
    for i, (slot, env) in enumerate(zip(batch.indices, batch.envs, strict=True)):
        assert position(slot, env) != LENGTH[env], "a final frame starts no transition"
        assert slot + n <= replay.cursor
        if oldest:
            assert slot - k >= oldest, "stack lookback must not reach overwritten slots"
        assert batch.obs[i, :, 0].tolist() == expected_stack(slot, env, k)
        ret, boot, discount = expected_target(slot, env, n)
        assert batch.returns[i] == pytest.approx(ret)
        assert batch.discounts[i] == pytest.approx(discount)
        assert batch.next_obs[i, :, 0].tolist() == expected_stack(boot, env, k)
        assert batch.actions[i] == slot % 4


def test_sampling_covers_exactly_the_valid_transitions():
    replay = make(k=2, n=2)
    fill(replay, 30)
    low, high = replay.valid_range()
    valid = {(s, e) for s in range(low, high + 1) for e in (0, 1) if position(s, e) != LENGTH[e]}
    batch = replay.sample(4000, np.random.default_rng(1))
    seen = set(zip(batch.indices.tolist(), batch.envs.tolist(), strict=True))
    assert seen == valid


def test_truncated_step_bootstraps_from_its_final_frame_terminated_does_not():
    replay = make(k=1, n=1)
    fill(replay, 20)
    batch = replay.sample(2000, np.random.default_rng(2))
    last_steps = np.array(
        [position(s, e) == LENGTH[e] - 1 for s, e in zip(batch.indices, batch.envs, strict=True)]
    )
    truncated = last_steps & (batch.envs == 0)
    terminated = last_steps & (batch.envs == 1)
    assert truncated.any() and terminated.any()
    assert np.all(batch.discounts[truncated] == GAMMA)
    # the bootstrap frame is the final frame: the slot right after the last step
    assert np.all(batch.next_obs[truncated, 0, 0] == 100 * (batch.indices[truncated] + 1))
    assert np.all(batch.discounts[terminated] == 0.0)


def test_latest_stacks_and_final_flags():
    replay = make(k=3, n=1)
    fill(replay, 9)  # cursor 9: env 0 position 4 (final), env 1 position 1
    assert replay.latest_is_final().tolist() == [True, False]
    stacks = replay.latest_stacks()[:, :, 0]
    assert stacks[0].tolist() == expected_stack(9, 0, 3) == [700, 800, 900]
    assert stacks[1].tolist() == expected_stack(9, 1, 3) == [801, 801, 901]


def test_sampling_is_seeded():
    replay = make()
    fill(replay, 25)
    a = replay.sample(32, np.random.default_rng(7))
    b = replay.sample(32, np.random.default_rng(7))
    assert np.array_equal(a.indices, b.indices) and np.array_equal(a.envs, b.envs)


def test_too_early_to_sample():
    replay = make(n=3)
    fill(replay, 2)
    assert not replay.can_sample()
    with pytest.raises(ValueError):
        replay.sample(4, np.random.default_rng(0))


def test_state_dict_round_trip_before_and_after_wrap():
    for steps in (6, 30):
        replay = make()
        fill(replay, steps)
        copy = make()
        copy.load_state_dict(replay.state_dict())
        a = replay.sample(64, np.random.default_rng(3))
        b = copy.sample(64, np.random.default_rng(3))
        assert np.array_equal(a.obs, b.obs) and np.array_equal(a.next_obs, b.next_obs)
        assert np.array_equal(a.returns, b.returns)


def test_memory_is_preallocated_and_does_not_grow():
    replay = ReplayBuffer(1000, 4, (84, 84, 3), np.uint8, 1, 1, 0.99)
    before = replay.nbytes
    assert replay.frames.nbytes == 250 * 4 * 84 * 84 * 3
    fill_frames = np.zeros((4, 84, 84, 3), np.uint8)
    replay.start(fill_frames)
    zeros = np.zeros(4)
    for _ in range(600):  # more than the capacity
        replay.add(zeros.astype(int), zeros, zeros.astype(bool), zeros.astype(bool), fill_frames)
    assert replay.nbytes == before
    assert "MiB" in replay.describe()


def test_the_replay_knows_its_size_before_reserving_it():
    from qarcade.dqn.config import build_config
    from qarcade.dqn.envs import frame_codec

    pixels = build_config("fast", None, {"grid_input": False})
    codec = frame_codec(pixels)  # the gridworld's 84x84x3 frames stored as their 7x7x3 grid
    for capacity, envs, shape, dtype, with_codec in [
        (1000, 4, (84, 84), np.uint8, None),  # Atari, standard
        (999, 8, (88, 80, 1), np.int8, None),  # Atari, lab (capacity not a multiple of envs)
        (500, 4, (84, 84, 3), np.uint8, codec),
    ]:
        replay = ReplayBuffer(capacity, envs, shape, dtype, 4, 3, 0.99, codec=with_codec)
        assert ReplayBuffer.nbytes_for(capacity, envs, shape, dtype, with_codec) == replay.nbytes


def test_nstep_returns_by_hand():
    rewards = np.array([[1.0, 2.0, 4.0], [1.0, 2.0, 4.0], [1.0, 2.0, 4.0], [1.0, 2.0, 4.0]])
    terminated = np.array([[0, 0, 0], [0, 1, 0], [0, 0, 0], [1, 0, 0]], bool)
    truncated = np.array([[0, 0, 0], [0, 0, 0], [0, 1, 0], [0, 0, 1]], bool)
    returns, steps, discount = nstep_returns(rewards, terminated, truncated, 0.5)
    # no end: 1 + .5*2 + .25*4 = 3, bootstrap after 3 steps with .5**3
    # terminated at step 1: 1 + 1 = 2, no bootstrap; truncated at step 1: 2, bootstrap .25
    # terminated at step 0: 1, no bootstrap (the later truncation belongs to another episode)
    assert returns.tolist() == [3.0, 2.0, 2.0, 1.0]
    assert steps.tolist() == [3, 2, 2, 1]
    assert discount.tolist() == [0.125, 0.0, 0.25, 0.0]


def test_cut_episodes_truncates_then_starts_fresh_episodes():
    replay = make(k=2, n=1)
    fill(replay, 6)  # cursor 6: env 0 at position 1 of its 2nd episode, env 1 at position 2
    replay.cut_episodes(np.stack([[9000], [9001]]))
    assert replay.cursor == 7
    assert replay.is_final(np.array([6, 6]), np.array([0, 1])).all()
    # the step into the old newest frame now bootstraps from it as a truncation
    assert replay.truncated[5 % replay.slots, 0] and replay.truncated[5 % replay.slots, 1]
    # the new frames start episodes: their stacks repeat them
    assert replay.latest_stacks()[:, :, 0].tolist() == [[9000, 9000], [9001, 9001]]


@pytest.mark.parametrize("size,partial", [(5, False), (3, False), (5, True), (4, True)])
def test_gridworld_codec_is_exact_and_the_replay_samples_the_same_pixels(size, partial):
    import gymnasium as gym

    import qarcade  # noqa: F401  (registers the envs)
    from qarcade.dqn.config import build_config
    from qarcade.dqn.envs import frame_codec

    overrides = {"grid_size": size, "partial": partial, "grid_input": False}  # pixel frames
    config = build_config("fast", None, overrides)
    codec = frame_codec(config)
    envs = gym.make_vec("qarcade/GridWorld-v0", num_envs=3, size=size, partial=partial)
    frames, _ = envs.reset(seed=0)
    plain = ReplayBuffer(3 * 80, 3, (84, 84, 3), np.uint8, 2, 3, 0.9)
    compact = ReplayBuffer(3 * 80, 3, (84, 84, 3), np.uint8, 2, 3, 0.9, codec=codec)
    assert compact.nbytes < plain.nbytes / 50
    plain.start(frames)
    compact.start(frames)
    rng = np.random.default_rng(0)
    for _ in range(120):  # past a truncation and the ring's wrap-around
        actions = rng.integers(0, 4, size=3)
        frames, rewards, terminated, truncated, _ = envs.step(actions)
        assert np.array_equal(codec.decode(codec.encode(frames)), frames)
        for replay in (plain, compact):
            replay.add(actions, rewards, terminated, truncated, frames)
    a = plain.sample(64, np.random.default_rng(1))
    b = compact.sample(64, np.random.default_rng(1))
    assert np.array_equal(a.obs, b.obs) and np.array_equal(a.next_obs, b.next_obs)
    assert np.array_equal(plain.latest_stacks(), compact.latest_stacks())


def test_sample_slots_draws_the_same_batch_as_indices():
    replay = make(k=4, n=2)
    fill(replay, 40)
    batch = replay.sample(64, np.random.default_rng(5))
    slots = replay.sample_slots(64, np.random.default_rng(5))
    assert slots.obs.shape == (64, 4) and slots.obs.dtype == np.int64
    assert np.array_equal(replay.frames_at(slots.obs), batch.obs)
    assert np.array_equal(replay.frames_at(slots.next_obs), batch.next_obs)
    for name in ("actions", "returns", "discounts", "indices", "envs"):
        assert np.array_equal(getattr(slots, name), getattr(batch, name)), name
    assert len(slots.learning_arrays()) == len(batch.learning_arrays())


def test_mirrored_frames_follow_every_write():
    import torch

    replay = make(k=3, n=2)
    fill(replay, 7)
    from qarcade.dqn.device import FramesMirror

    mirror = FramesMirror.attach(replay, torch.device("cpu")).frames  # here in host memory
    used = replay.cursor + 1
    assert torch.equal(mirror[:used], torch.from_numpy(replay.frames[:used]))
    for steps in (30, 0):  # past the wrap-around, then a restart by hand
        if steps:
            fill_more(replay, steps)
        else:
            replay.cut_episodes(np.stack([frame(999, e) for e in (0, 1)]))
        assert torch.equal(mirror, torch.from_numpy(replay.frames))
    saved = make(k=3, n=2)
    fill(saved, 9)
    replay.load_state_dict(saved.state_dict())
    assert torch.equal(mirror, torch.from_numpy(replay.frames))
    index = replay.sample_slots(16, np.random.default_rng(0)).obs
    flat = mirror.view(-1, *mirror.shape[2:])
    assert np.array_equal(flat[torch.from_numpy(index)].numpy(), replay.frames_at(index))


def test_on_a_gpu_rows_reach_the_mirror_through_staging_buffers_in_turn():
    import torch

    class Event:  # a torch.cuda.Event's two calls, recorded
        def __init__(self, name):
            self.name = name

        def synchronize(self):
            calls.append(("wait", self.name))

        def record(self):
            calls.append(("record", self.name))

    calls = []
    replay = make(k=3, n=2)
    fill(replay, 7)
    from qarcade.dqn.device import FramesMirror

    attached = FramesMirror.attach(replay, torch.device("cpu"))
    mirror = attached.frames
    staging = [(torch.zeros_like(torch.from_numpy(replay.frames[0])), Event(i)) for i in (0, 1)]
    attached.staging = staging  # as the mirror sets them up on a GPU (pinned buffers there)
    fill_more(replay, 30)  # past the wrap-around
    assert torch.equal(mirror, torch.from_numpy(replay.frames))
    # each row: wait for its buffer's last copy, copy, record; the two buffers in turn
    expected = [(what, i % 2) for i in range(30) for what in ("wait", "record")]
    assert calls == expected
    assert torch.equal(staging[1][0], torch.from_numpy(replay.frames[replay.cursor % replay.slots]))


def fill_more(replay, steps):
    """``steps`` more steps of the schedule ``fill`` follows, continuing from the cursor."""
    zeros = np.zeros(2)
    for s in range(replay.cursor, replay.cursor + steps):
        frames = np.stack([frame(s + 1, e) for e in (0, 1)])
        replay.add(zeros.astype(int), zeros + 1.0, zeros.astype(bool), zeros.astype(bool), frames)


def test_one_draw_split_into_the_batches_of_several_updates():
    replay = make(k=3, n=2)
    fill(replay, 40)
    whole = replay.sample_slots(4 * 8, np.random.default_rng(2))
    parts = whole.split(4)
    assert [len(part.indices) for part in parts] == [8] * 4
    assert np.array_equal(np.concatenate([part.obs for part in parts]), whole.obs)
    assert np.array_equal(np.concatenate([part.discounts for part in parts]), whole.discounts)
    batch = replay.gather(parts[2])
    assert np.array_equal(batch.next_obs, replay.frames_at(whole.next_obs[16:24]))


def test_a_checkpoint_writes_the_replay_as_raw_bytes_not_as_a_pickled_copy(tmp_path):
    # A pickled numpy array is copied whole into memory first and fails past 4 GiB, which a
    # 1M-frame Atari replay (7 GB) is: the replay's arrays must reach the file as tensors.
    import zipfile

    from qarcade.runs import CHECKPOINT, RunDir

    rng = np.random.default_rng(0)
    replay = ReplayBuffer(4000, 4, (84, 84, 1), np.uint8, frame_stack=4, n_step=3, gamma=0.99)
    replay.start(rng.integers(0, 256, (4, 84, 84, 1), dtype=np.uint8))
    for _ in range(600):
        done = rng.random(4) < 0.05
        frames = rng.integers(0, 256, (4, 84, 84, 1), dtype=np.uint8)
        replay.add(rng.integers(0, 9, 4), rng.random(4), done, np.zeros(4, bool), frames, done)
    run = RunDir.create(tmp_path / "run", {})
    run.save_checkpoint({"learner": {}, "replay": replay.state_dict()})
    with zipfile.ZipFile(run / CHECKPOINT) as archive:
        pickles = [i.file_size for i in archive.infolist() if i.filename.endswith(".pkl")]
    assert replay.frames.nbytes > 1e7 and max(pickles) < 1e4
    restored = ReplayBuffer(4000, 4, (84, 84, 1), np.uint8, frame_stack=4, n_step=3, gamma=0.99)
    restored.load_state_dict(RunDir.open(tmp_path / "run").load_checkpoint()["replay"])
    a = replay.sample(32, np.random.default_rng(1))
    b = restored.sample(32, np.random.default_rng(1))
    assert np.array_equal(a.obs, b.obs) and np.array_equal(a.returns, b.returns)
    assert np.array_equal(restored.life_lost, replay.life_lost)


def test_a_replay_with_symmetries_turns_each_sampled_transition_and_its_action():
    """Each transition is seen under its drawn symmetry: both stacks' pictures turned alike, the
    action mapped; the slots drawn are those of a replay without symmetries."""
    from qarcade.envs.gridworld import bordered_grids, symmetries

    sources, mapped = symmetries(5)
    plain = ReplayBuffer(2 * 40, 2, (5, 5, 3), np.uint8, 2, 2, 0.9)
    turning = ReplayBuffer(2 * 40, 2, (5, 5, 3), np.uint8, 2, 2, 0.9, symmetries=(sources, mapped))
    rng = np.random.default_rng(0)

    def pictures():
        return bordered_grids(rng.choice(9, size=(2, 7)), 3)  # (2, 5, 5, 3)

    first = pictures()
    plain.start(first)
    turning.start(first)
    for step in range(60):
        actions, frames = rng.integers(0, 4, 2), pictures()
        args = (actions, np.ones(2), np.zeros(2, bool), np.array([step % 9 == 8] * 2), frames)
        plain.add(*args)
        turning.add(*args)
    a = plain.sample(256, np.random.default_rng(3))
    b = turning.sample(256, np.random.default_rng(3))
    assert np.array_equal(a.indices, b.indices) and np.array_equal(a.envs, b.envs)
    assert (a.symmetry == 0).all() and set(b.symmetry) == set(range(8))
    assert np.array_equal(b.actions, mapped[b.symmetry, a.actions])
    for i, g in enumerate(b.symmetry):
        for stacks_a, stacks_b in ((a.obs, b.obs), (a.next_obs, b.next_obs)):
            for frame_a, frame_b in zip(stacks_a[i], stacks_b[i], strict=True):
                assert np.array_equal(frame_a.reshape(25, 3)[sources[g]].reshape(5, 5, 3), frame_b)
    for name in ("returns", "discounts"):
        assert np.array_equal(getattr(a, name), getattr(b, name))

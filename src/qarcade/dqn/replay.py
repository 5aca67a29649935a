"""Experience replay (Lin 1992; Mnih et al. 2015) that stores each frame once.

Layout: one ring per env, all advanced together, as arrays indexed ``[slot, env]``. Slot ``t``
of env ``e`` holds the frame observed at step ``t`` and the action taken from it, the reward
received and whether that step terminated or truncated the episode. The next observation is
the next slot's frame, never a second copy; a stack of ``k`` frames is rebuilt by index.

Vector envs reset in Gymnasium's next-step mode: the step that ends an episode returns the
episode's true final frame (stored in the next slot, so a truncated step can bootstrap from it),
and the following step resets the env (action ignored, reward 0). So, with ``done = terminated
| truncated``, everything else is derived from two flags:

    slot t holds a final frame   <=>  done[t - 1]   (no transition starts there)
    slot t starts an episode     <=>  t == 0 or done[t - 2]

A third flag, ``life_lost`` (Atari: the step lost a life), is terminal for the TD target only:
it cuts the n-step window and the bootstrap, but the episode, and so the frame stacks, go on.

Slot indices below are logical (they grow forever); the physical row is ``t % slots``. With a
frame codec (the gridworld's frame is its 7x7x3 grid scaled up) the rings hold the codes and
stacks are decoded when read: the same pixels for ~1/140 of the memory.

``draw`` samples the batches of a step's updates in one go; where the frames have a device copy
(``mirror``, see ``qarcade.dqn.device``) its batches hold indices into them instead of frames.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np
import torch

from qarcade.errors import UserError


def nstep_returns(
    rewards: np.ndarray, terminated: np.ndarray, truncated: np.ndarray, gamma: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n-step returns of windows of ``n`` consecutive steps, cut at the first episode end.

    rewards, terminated, truncated: (B, n) for steps t .. t+n-1.
    Returns (returns (B,), steps (B,), discount (B,)): the discounted reward sum over the first
    ``steps`` steps, and the factor of the bootstrap value Q(frame at t + steps): gamma**steps,
    or 0 when a step terminated (a truncated step still bootstraps, from its final frame).
    """
    n = rewards.shape[1]
    done = terminated | truncated
    ends_before = np.cumsum(done, axis=1) - done  # (B, n): episode ends strictly before step m
    included = ends_before == 0  # steps up to and including the first end
    powers = gamma ** np.arange(n, dtype=np.float64)  # (n,)
    returns = (rewards * included * powers).sum(axis=1)
    steps = included.sum(axis=1)
    ended_by_termination = (terminated & included).any(axis=1)
    discount = np.where(ended_by_termination, 0.0, gamma ** steps.astype(np.float64))
    return returns.astype(np.float32), steps, discount.astype(np.float32)


@dataclass
class Batch:
    """A sampled batch of numpy arrays. ``obs`` and ``next_obs`` are the stacks' frames
    (B, k, *frame) in the stored dtype (``sample``), or, from ``sample_slots``, int64 indices
    (B, k) into the replay's frames seen as one row per (slot, env),
    ``frames.reshape(slots * num_envs, *stored)``, oldest frame first: what a device holding its
    own copy of the frames (``ReplayBuffer.mirror``) gathers from."""

    obs: np.ndarray
    actions: np.ndarray  # (B,) int64
    returns: np.ndarray  # (B,) float32, n-step discounted rewards
    discounts: np.ndarray  # (B,) float32, factor of the bootstrap value
    next_obs: np.ndarray
    indices: np.ndarray  # (B,) logical slots, for tests and debugging
    envs: np.ndarray  # (B,) env columns
    symmetry: np.ndarray  # (B,) the replay's symmetry each transition is turned by (0: as played)

    def learning_arrays(self) -> tuple[np.ndarray, ...]:
        """What a gradient step reads, in ``Learner.gradient_step``'s argument order."""
        return self.obs, self.actions, self.returns, self.discounts, self.next_obs

    def split(self, count: int) -> list[Batch]:
        """``count`` consecutive batches of equal size (views): several updates' batches drawn
        in one ``sample_slots`` call, which costs about what one batch's draw costs."""
        parts = {f.name: np.split(getattr(self, f.name), count) for f in fields(self)}
        return [Batch(**{name: part[i] for name, part in parts.items()}) for i in range(count)]


class ReplayBuffer:
    """Preallocated rings of frames plus per-step action, reward, terminated, truncated."""

    def __init__(
        self,
        capacity: int,
        num_envs: int,
        frame_shape: tuple[int, ...],
        frame_dtype: np.dtype,
        frame_stack: int = 1,
        n_step: int = 1,
        gamma: float = 0.99,
        codec=None,
        symmetries: tuple[np.ndarray, np.ndarray] | None = None,
    ):
        self.slots = capacity // num_envs
        if self.slots < n_step + frame_stack + 2:
            raise ValueError("replay capacity too small for n_step and frame_stack")
        self.num_envs = num_envs
        self.frame_stack = frame_stack
        self.n_step = n_step
        self.gamma = gamma
        self.codec = codec  # FrameCodec or None: store codec.encode(frame), decode on read
        self.frame_shape = tuple(frame_shape)
        stored_shape = tuple(codec.code_shape) if codec else tuple(frame_shape)
        # (sources (G, H*W), actions (G, A)) of an env whose game is the same turned (the
        # gridworld's square): each sampled transition is seen under a random one of them, its
        # stored picture's cells moved and its action mapped alike (``frames_at``,
        # ``sample_slots``).
        self.symmetries = symmetries
        if symmetries is not None and symmetries[0].shape[1] != np.prod(stored_shape[:2]):
            raise ValueError(f"symmetries of {symmetries[0].shape[1]} cells for {stored_shape}")
        shape = (self.slots, num_envs)
        self.frames = np.zeros(shape + stored_shape, dtype=frame_dtype)
        self.actions = np.zeros(shape, dtype=np.int64)
        self.rewards = np.zeros(shape, dtype=np.float32)
        self.terminated = np.zeros(shape, dtype=bool)
        self.truncated = np.zeros(shape, dtype=bool)
        self.life_lost = np.zeros(shape, dtype=bool)  # terminal for learning only (Atari)
        self.cursor = -1  # logical slot of the newest frame; its step is still to come
        # A device's copy of the frames (qarcade.dqn.device.FramesMirror), written with them.
        self.mirror = None

    @property
    def nbytes(self) -> int:
        arrays = (self.frames, self.actions, self.rewards, self.terminated, self.truncated)
        return sum(a.nbytes for a in arrays) + self.life_lost.nbytes

    @staticmethod
    def nbytes_for(capacity: int, num_envs: int, frame_shape, frame_dtype, codec=None) -> int:
        """``nbytes`` of such a buffer, known before its arrays are reserved."""
        stored_shape = codec.code_shape if codec else frame_shape
        frame = int(np.prod(stored_shape)) * np.dtype(frame_dtype).itemsize
        per_step = frame + 8 + 4 + 3  # the frame, an int64 action, a float32 reward, 3 flags
        return (capacity // num_envs) * num_envs * per_step

    def describe(self) -> str:
        frame = "x".join(map(str, self.frame_shape))
        what = f"frames stored as {self.codec.name}" if self.codec else "frames"
        return (
            f"replay: {self.slots:,} slots x {self.num_envs} envs of {frame} "
            f"{self.frames.dtype} {what} = {self.nbytes / 2**20:,.1f} MiB preallocated"
        )

    def used_slots(self) -> int:
        """Physical slots written so far (all of them once the rings have wrapped)."""
        return min(self.cursor + 1, self.slots)

    def _store(self, row: int, frames: np.ndarray) -> None:
        """Write frames (N, *frame) into physical slot ``row`` (and the device copy, if any)."""
        self.frames[row] = self.codec.encode(frames) if self.codec else frames
        if self.mirror is not None:
            self.mirror.write(row, self.frames[row])

    # --- writing ---

    def start(self, frames: np.ndarray) -> None:
        """Store the first frames (N, *frame) returned by reset."""
        self.cursor = 0
        self._store(0, frames)

    def add(
        self,
        actions: np.ndarray,
        rewards: np.ndarray,
        terminated: np.ndarray,
        truncated: np.ndarray,
        next_frames: np.ndarray,
        life_lost: np.ndarray | None = None,
    ) -> None:
        """Complete the newest slot with its step (each (N,)), then store the next frames.

        ``life_lost`` (N,): the step lost a life (no bootstrap past it; the episode goes on).
        """
        row = self.cursor % self.slots
        self.actions[row] = actions
        self.rewards[row] = rewards
        self.terminated[row] = terminated
        self.truncated[row] = truncated
        self.life_lost[row] = False if life_lost is None else life_lost
        self.cursor += 1
        row = self.cursor % self.slots
        self._store(row, next_frames)
        self.terminated[row] = False
        self.truncated[row] = False
        self.life_lost[row] = False

    def cut_episodes(self, reset_frames: np.ndarray) -> None:
        """End every env's episode at its newest frame and start anew from ``reset_frames``.

        For envs restarted by hand (a resumed run whose env state could not be saved): the
        newest frame becomes a final frame (the step into it is marked truncated, so it still
        bootstraps), and a reset step leads to the new first frames, as next-step autoreset does.
        """
        if self.cursor < 1:
            self._store(self.cursor % self.slots, reset_frames)
            return
        self.truncated[(self.cursor - 1) % self.slots] |= ~self.terminated[
            (self.cursor - 1) % self.slots
        ]
        zeros = np.zeros(self.num_envs)
        self.add(
            zeros.astype(np.int64), zeros, zeros.astype(bool), zeros.astype(bool), reset_frames
        )

    # --- index arithmetic ---

    def _done(self, t: np.ndarray, env: np.ndarray) -> np.ndarray:
        """done at logical slots t (any shape); False before the first slot."""
        row = np.mod(t, self.slots)
        done = self.terminated[row, env] | self.truncated[row, env]
        return done & (t >= 0)

    def is_final(self, t: np.ndarray, env: np.ndarray) -> np.ndarray:
        """Slot t holds an episode's final frame: the env resets on the next step."""
        return self._done(t - 1, env)

    def _episode_start(self, t: np.ndarray, env: np.ndarray) -> np.ndarray:
        return (t == 0) | self._done(t - 2, env)

    def valid_range(self) -> tuple[int, int]:
        """Inclusive range of logical slots where a transition may start (some may be final)."""
        oldest = max(0, self.cursor - self.slots + 1)
        # Stacking looks back to done[t - k]; a window needs the frame at t + n.
        low = oldest + self.frame_stack if oldest > 0 else 0
        high = self.cursor - self.n_step
        return low, high

    def stack_index(self, t: np.ndarray, env: np.ndarray) -> np.ndarray:
        """Indices (B, k) into the frames seen as (slots * num_envs, *stored), oldest first, of
        the stack ending at logical slots t (B,) of env columns env (B,). Before an episode's
        first frame the first frame is repeated."""
        columns = [t]
        current = t
        for _ in range(self.frame_stack - 1):
            current = np.where(self._episode_start(current, env), current, current - 1)
            columns.append(current)
        rows = np.mod(np.stack(columns[::-1], axis=1), self.slots)
        return rows * self.num_envs + env[:, None]

    def frames_at(self, index: np.ndarray, symmetry: np.ndarray | None = None) -> np.ndarray:
        """Frames (B, k, *frame), decoded, at indices (B, k) from ``stack_index``; each row
        turned by its ``symmetry`` (B,) when given."""
        stored = self.frames.reshape(-1, *self.frames.shape[2:])[index]  # (B, k, *stored)
        if symmetry is not None:
            b, k, h, w = stored.shape[:4]
            cells = stored.reshape(b, k, h * w, *stored.shape[4:])
            sources = self.symmetries[0][symmetry][:, None, :]  # (B, 1, H*W)
            stored = cells[np.arange(b)[:, None, None], np.arange(k)[None, :, None], sources]
            stored = stored.reshape(b, k, h, w, *stored.shape[3:])
        if self.codec is None:
            return stored
        b, k = index.shape
        frames = self.codec.decode(stored.reshape(b * k, *stored.shape[2:]))  # (B*k, *frame)
        return frames.reshape(b, k, *frames.shape[1:])

    def stack(self, t: np.ndarray, env: np.ndarray) -> np.ndarray:
        """Frames (B, k, *frame) ending at logical slots t (B,) of env columns env (B,)."""
        return self.frames_at(self.stack_index(t, env))

    def latest_stacks(self) -> np.ndarray:
        """The stacked newest observation of every env, (N, k, *frame): what the agent acts on."""
        envs = np.arange(self.num_envs)
        return self.stack(np.full(self.num_envs, self.cursor), envs)

    def latest_is_final(self) -> np.ndarray:
        """(N,) whether each env's newest frame is final, i.e. its next step is a reset."""
        envs = np.arange(self.num_envs)
        return self.is_final(np.full(self.num_envs, self.cursor), envs)

    # --- sampling ---

    def can_sample(self) -> bool:
        low, high = self.valid_range()
        return high >= low

    def sample(self, batch_size: int, rng: np.random.Generator) -> Batch:
        """Uniform over valid transition starts (rejection of final frames), seeded by ``rng``."""
        return self.gather(self.sample_slots(batch_size, rng))

    def gather(self, slots: Batch) -> Batch:
        """The batch ``slots`` (from ``sample_slots``) with its stacks' frames."""
        turned = None if self.symmetries is None else np.tile(slots.symmetry, 2)
        both = self.frames_at(np.concatenate([slots.obs, slots.next_obs]), turned)  # one gather
        return replace(slots, obs=both[: len(slots.obs)], next_obs=both[len(slots.obs) :])

    def draw(self, count: int, batch_size: int, rng: np.random.Generator) -> list[Batch]:
        """The batches of ``count`` updates, in one draw (it costs about what one batch's
        draw costs): with their frames, or with indices into the device copy if there is one."""
        if count == 0:
            return []
        drawn = self.sample_slots(batch_size * count, rng)
        if self.mirror is None:
            drawn = self.gather(drawn)
        return drawn.split(count)

    def sample_slots(self, batch_size: int, rng: np.random.Generator) -> Batch:
        """What ``sample`` draws (the same draws), with stacks as indices instead of frames."""
        low, high = self.valid_range()
        if high < low:
            raise ValueError("not enough steps in the replay to sample")
        starts, envs = [], []
        needed = batch_size
        for _ in range(100):
            t = rng.integers(low, high + 1, size=2 * batch_size)
            env = rng.integers(0, self.num_envs, size=2 * batch_size)
            keep = ~self.is_final(t, env)
            starts.append(t[keep][:needed])
            envs.append(env[keep][:needed])
            needed -= len(starts[-1])
            if needed == 0:
                break
        else:
            raise ValueError("could not sample enough valid transitions")
        t = np.concatenate(starts)
        env = np.concatenate(envs)
        window = t[:, None] + np.arange(self.n_step)  # (B, n) logical slots
        rows = np.mod(window, self.slots)
        returns, steps, discounts = nstep_returns(
            self.rewards[rows, env[:, None]],
            self.terminated[rows, env[:, None]] | self.life_lost[rows, env[:, None]],
            self.truncated[rows, env[:, None]],
            self.gamma,
        )
        stacks = self.stack_index(np.concatenate([t, t + steps]), np.concatenate([env, env]))
        actions = self.actions[np.mod(t, self.slots), env]
        symmetry = np.zeros(batch_size, np.int64)
        if self.symmetries is not None:
            symmetry = rng.integers(0, len(self.symmetries[0]), size=batch_size)
            actions = self.symmetries[1][symmetry, actions]
        return Batch(
            obs=stacks[:batch_size],
            actions=actions,
            returns=returns,
            discounts=discounts,
            next_obs=stacks[batch_size:],
            indices=t,
            envs=env,
            symmetry=symmetry,
        )

    # --- checkpoint ---

    def state_dict(self) -> dict:
        """The filled part of the arrays as tensors sharing their memory: ``torch.save`` writes
        a tensor's bytes straight to the file, where a pickled numpy array would first be copied
        whole into memory and, past 4 GiB (Atari's 1M frames are 7 GB), fail to pickle."""
        used = self.used_slots()
        arrays = ("frames", "actions", "rewards", "terminated", "truncated", "life_lost")
        state = {name: torch.from_numpy(getattr(self, name)[:used]) for name in arrays}
        return {"cursor": self.cursor, **state}

    def load_state_dict(self, state: dict) -> None:
        """Loads what ``state_dict`` saved (numpy arrays too, as checkpoints held before)."""
        state = {k: v.numpy() if isinstance(v, torch.Tensor) else v for k, v in state.items()}
        used = len(state["frames"])
        if state["frames"].shape[1:] != self.frames.shape[1:] or used > self.slots:
            raise ValueError("replay state does not match this buffer's shape")
        for name in ("frames", "actions", "rewards", "terminated", "truncated"):
            getattr(self, name)[:used] = state[name]
        self.life_lost[:used] = state.get("life_lost", False)  # absent before Atari
        self.cursor = int(state["cursor"])
        if self.mirror is not None:
            self.mirror.write_all(self.frames)


def available_memory_bytes() -> int | None:
    """Memory the system can give this process now without swapping (free memory plus
    reclaimable caches): psutil's estimate, else Linux's MemAvailable, else None (unknown)."""
    try:
        import psutil

        return psutil.virtual_memory().available
    except ImportError:  # a bare interpreter that runs qarcade from src/ (GPU machines)
        pass
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def check_replay_memory(nbytes: int, capacity: int, available: int | None = None) -> None:
    """Refuse a replay of ``nbytes`` for ``capacity`` transitions that cannot fit in the memory
    available now (a ``UserError`` naming a ``--replay-size`` that would). Its arrays are only
    touched as it fills: a run that does not fit would be killed hours in, not at the start."""
    available = available_memory_bytes() if available is None else available
    if available is None or nbytes <= available:
        return
    fits = int(0.8 * available / (nbytes / capacity))
    fits = int(float(f"{fits:.2g}")) if fits >= 100 else fits  # two significant digits
    raise UserError(
        f"the replay needs {nbytes / 2**30:,.1f} GiB but {available / 2**30:.1f} GiB of memory "
        f"is available: pass --replay-size {fits} or less"
    )


def check_batch_memory(config, space, available: int | None = None) -> None:
    """Refuse a batch whose stacks (observations and next observations, as the network's
    float32 input) cannot fit in half the memory available now: numpy would fail at the first
    update, after the warm-up."""
    available = available_memory_bytes() if available is None else available
    frame = int(np.prod(space.shape)) * 4
    per_transition = 2 * config.frame_stack * frame
    nbytes = config.batch_size * per_transition
    if available is None or nbytes <= available // 2:
        return
    fits = max(1, available // 2 // per_transition)
    raise UserError(
        f"a batch of {config.batch_size:,} transitions needs {nbytes / 2**30:,.1f} GiB but "
        f"{available / 2**30:.1f} GiB of memory is available: pass --batch-size {fits} or less"
    )

"""THE training loop of the DQN family (DQN, Double, Dueling, D3QN: two flags of one config).

Deep Q-learning with experience replay (Mnih et al. 2015), on N envs stepped together:

    for each vector step:
        act epsilon-greedily on all N envs with one batched forward
        step the envs; store the step in the replay
        every train_every_steps env steps after warm-up: sample updates_per_round batches and
            learn (TD target, loss, optimiser step; the learner syncs its target network)
        hand the finished episodes to the recorder (metrics, evaluations, checkpoints, goal)

Two orderings change no number but let work overlap: a step's batches are drawn before the act,
and the updates run before the envs' step is collected, so that on a GPU (where the updates are
queued) and with envs that step in the background (``send_ahead``) both run at once.

What the run records and when it stops is the ``Recorder``'s (``qarcade.dqn.recorder``); what a
checkpoint holds, ``qarcade.dqn.checkpoint``; where the arithmetic runs, ``qarcade.dqn.device``.
"""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import torch

from qarcade.dqn.checkpoint import (
    Counters,
    checkpoint_state,
    numpy_rngs,
    read_checkpoint,
    resume_from,
)
from qarcade.dqn.config import DQNConfig
from qarcade.dqn.device import (
    Threads,
    configure_torch,
    fit_to_device,
    mirror_replay,
    q_function,
    resolve_device,
)
from qarcade.dqn.envs import env_factory, frame_codec, make_vector, replay_symmetries
from qarcade.dqn.learner import Learner, act, epsilon_at
from qarcade.dqn.networks import network_for
from qarcade.dqn.recorder import Recorder, log_setup
from qarcade.dqn.replay import ReplayBuffer, check_batch_memory, check_replay_memory
from qarcade.envs.vector import send_ahead
from qarcade.errors import UserError
from qarcade.runs import RunDir


def train(
    config: DQNConfig,
    run_dir: str | Path,
    *,
    resume: bool = False,
    progress: bool = True,
    log=print,
    on_episodes=None,
    make_envs=make_vector,
    make_q_function=q_function,
    trust_checkpoint: bool = False,
) -> dict:
    """Train ``config`` into ``run_dir`` (new, or an existing run to resume); returns the summary.

    The library entry point of ``qarcade train`` and of sweeps. ``on_episodes``, if given, is
    called with the metrics rows of the episodes that just finished (tuples in
    ``runs.METRICS_COLUMNS`` order, as appended to metrics.csv), e.g. a ``media.LiveCurve``.
    ``make_envs(config, num_envs)`` builds the training vector env and
    ``make_q_function(network, device, cuda_graph=...)`` the acting forward (benchmarks time them).
    The run directory is held for this one writer until the run ends (``RunDir``'s lock);
    ``trust_checkpoint`` also resumes a checkpoint of an older qarcade (pickled: a run you trust).
    """
    env_factory(config.env)  # an unknown env fails before anything is written
    device = resolve_device(config.device)
    threads = Threads(config, device, log)  # auto: follows the free cores as the run goes
    configure_torch(config, device)
    run = RunDir.open(run_dir, write=True) if resume else None  # a new one: once the replay fits
    try:
        config = fit_to_device(config, device, log, run)
        checkpoint, config = read_checkpoint(run, config, log, trust_checkpoint)  # run: a resume
        rngs, eval_seed = numpy_rngs(config.seed)
        torch.manual_seed(config.seed)  # network initialisation

        envs = make_envs(config, config.num_envs)
        space, n_actions = envs.single_observation_space, int(envs.single_action_space.n)
        network = network_for(config, space, envs.single_action_space)
        learner = Learner.for_config(network, config, device)
        try:  # before a new run's directory exists
            replay = replay_for(config, space)
            run = run or RunDir.create(run_dir, config.to_dict())
        except UserError:
            envs.close()
            raise
        log_setup(config, learner, replay, threads, log)
        mirror_replay(config, replay, learner, log)
        if checkpoint is None:
            counters = Counters.start(config)
            frames, _ = envs.reset(seed=config.seed)
            replay.start(frames)
        else:
            counters, envs = resume_from(checkpoint, run, config, learner, replay, rngs, envs, log)
        q_online = make_q_function(learner.online, device, cuda_graph=config.cuda_graph)

        def save_checkpoint() -> None:
            run.save_checkpoint(checkpoint_state(config, learner, replay, counters, rngs, envs))

        recorder = Recorder(
            config,
            run,
            counters,
            learner,
            q_online,
            eval_seed=eval_seed,
            save_checkpoint=save_checkpoint,
            resume=resume,
            progress=progress,
            log=log,
            on_episodes=on_episodes,
            threads=threads,
        )
        with recorder:  # SIGINT and SIGTERM ask the loop to stop
            while not recorder.should_stop():
                live = ~replay.latest_is_final()  # (N,) False where this step only resets the env
                env_steps = counters.env_steps + int(live.sum())

                # --- sample the batches of the update rounds due by this step's end ---
                due = rounds_due(config, env_steps) if replay.can_sample() else 0
                updates = max(0, due - counters.update_rounds) * config.updates_per_round
                batches = replay.draw(updates, config.batch_size, rngs["replay"])
                counters.update_rounds = max(counters.update_rounds, due)

                # --- act: epsilon-greedy, one batched forward for all envs ---
                epsilon = epsilon_at(
                    counters.env_steps,
                    config.warmup_steps,
                    config.epsilon_start,
                    config.epsilon_end,
                    config.epsilon_decay_steps,
                )
                actions = act(
                    q_online, replay.latest_stacks, live, n_actions, epsilon, rngs["explore"]
                )
                send_ahead(envs, actions)  # envs that step in the background start now

                # --- learn: TD targets, gradient steps, target syncs ---
                learner.learn(batches)

                # --- step the envs and store the transitions ---
                frames, rewards, terminated, truncated, info = envs.step(actions)
                replay.add(actions, rewards, terminated, truncated, frames, info.get("life_loss"))
                counters.vector_steps += 1
                counters.env_steps = env_steps

                # --- record: finished episodes, then evaluations and checkpoints when due ---
                recorder.step((terminated | truncated) & live, info, epsilon, int(live.sum()))
        summary = recorder.finish()
        envs.close()
        return summary
    finally:
        if run is not None:
            run.close()  # however the run ends, the next writer may take the directory


def rounds_due(config: DQNConfig, env_steps: int) -> int:
    """Update rounds due after ``env_steps``: one at warm-up's end, then one every
    ``train_every_steps`` env steps (0 during warm-up)."""
    if env_steps < config.warmup_steps:
        return 0
    return (env_steps - config.warmup_steps) // config.train_every_steps + 1


def replay_for(config: DQNConfig, space: gym.spaces.Box) -> ReplayBuffer:
    """The config's replay for frames of ``space``; a ``UserError`` where the memory available
    now cannot hold it (its arrays are only touched as it fills: it would fail hours in)."""
    codec = frame_codec(config)
    nbytes = ReplayBuffer.nbytes_for(
        config.buffer_size, config.num_envs, space.shape, space.dtype, codec
    )
    check_replay_memory(nbytes, config.buffer_size)
    check_batch_memory(config, space)
    return ReplayBuffer(
        config.buffer_size,
        config.num_envs,
        space.shape,
        space.dtype,
        config.frame_stack,
        config.n_step,
        config.gamma,
        codec=codec,
        symmetries=replay_symmetries(config),
    )

"""THE training loop of the DQN family (DQN, Double, Dueling, D3QN: two flags of one config).

Per vector step: act epsilon-greedily on all N envs with one batched forward; run the update
rounds due (every ``train_every_steps`` env steps after warm-up, ``updates_per_round`` times
sample, TD target, loss, optimiser step; the learner syncs the target network); step the envs;
store the step in the replay; close finished episodes into metrics. The updates come before the
env step so that on a GPU, where they are queued, the envs step while the GPU computes. Then
periodic evaluation and checkpoints; stop at the goal, the step or time budget, or a signal
(SIGINT/SIGTERM: checkpoint, then a clean exit).

Everything the loop needs to continue is in the checkpoint: network and optimiser states, the
replay, the counters, the numpy RNG states and the pickled vector env, so ``--resume`` continues
step for step as if never stopped (on CPU, bit for bit). An env that cannot be pickled restarts
its episodes on resume instead (the replay marks the cut as a truncation).

Atari (``mspacman``): a lost life (``info["life_loss"]``) is terminal for the TD target only;
metrics and evaluations record the raw game score (``info["episode"]["r"]``), not the clipped
rewards the agent learns from.
"""

from __future__ import annotations

import contextlib
import math
import signal
import time
from collections import deque
from pathlib import Path

import numpy as np
import torch

from qarcade.dqn.bookkeeping import (
    RESUMABLE_FIELDS,
    Counters,
    LossSum,
    StopSignals,
    batch_reader,
    budget_spent,
    check_replay_memory,
    checkpoint_state,
    configure_torch,
    default_run_dir,
    evaluation_line,
    fit_to_device,
    goal_record,
    log_setup,
    plot_curve,
    postfix,
    progress_bar,
    resolve_device,
    restore_checkpoint,
    resume_config,
    run_summary,
    sync_counters,
)
from qarcade.dqn.config import DQNConfig
from qarcade.dqn.envs import env_factory, frame_codec, make_vector
from qarcade.dqn.evaluate import evaluate, q_function, summarize, write_episode_video
from qarcade.dqn.learner import Learner, epsilon_at, exploration_draws
from qarcade.dqn.networks import network_for
from qarcade.dqn.replay import ReplayBuffer
from qarcade.envs.vector import send_ahead
from qarcade.errors import UserError
from qarcade.runs import EVALUATIONS, METRICS, TENSORBOARD, VIDEO, RunDir

# The loop looks up ``q_function`` and ``make_vector`` here (benchmarks time them by replacing
# them in this module); the rest is re-exported from ``bookkeeping`` for existing callers.
__all__ = [
    "RESUMABLE_FIELDS",
    "default_run_dir",
    "make_vector",
    "q_function",
    "resolve_device",
    "resume_config",
    "train",
]


def train(
    config: DQNConfig,
    run_dir: str | Path,
    *,
    resume: bool = False,
    progress: bool = True,
    log=print,
    on_episodes=None,
) -> dict:
    """Train ``config`` into ``run_dir`` (new, or an existing run to resume); returns the summary.

    The library entry point of ``qarcade train`` and of sweeps. ``on_episodes``, if given, is
    called with the metrics rows of the episodes that just finished (tuples in
    ``runs.METRICS_COLUMNS`` order, exactly as appended to metrics.csv), e.g. a
    ``media.LiveCurve`` that redraws the learning curve in a notebook while the run goes on.
    """
    env_factory(config.env)  # an unknown env fails before anything is written
    device = resolve_device(config.device)
    configure_torch(config, device)
    run = RunDir.open(run_dir) if resume else None  # a new one is created once the replay fits
    config = fit_to_device(config, device, log, run)

    # --- randomness: one seed, independent streams ---
    explore_seed, replay_seed, eval_seed = np.random.SeedSequence(config.seed).spawn(3)
    explore_rng = np.random.default_rng(explore_seed)  # epsilon-greedy choices
    replay_rng = np.random.default_rng(replay_seed)  # minibatch sampling
    eval_seed_base = int(eval_seed.generate_state(1)[0])  # fresh eval envs, seeded
    torch.manual_seed(config.seed)  # network initialisation

    envs = make_vector(config, config.num_envs)
    obs_space, action_space = envs.single_observation_space, envs.single_action_space
    network = network_for(config, obs_space, action_space)
    learner = Learner.for_config(network, config, device)
    codec = frame_codec(config)
    try:  # before a new run's directory exists
        shape, dtype = obs_space.shape, obs_space.dtype
        nbytes = ReplayBuffer.nbytes_for(config.buffer_size, config.num_envs, shape, dtype, codec)
        check_replay_memory(nbytes, config.buffer_size)
        if run is None:
            run = RunDir.create(run_dir, config.to_dict())
    except UserError:
        envs.close()
        raise
    replay = ReplayBuffer(
        config.buffer_size,
        config.num_envs,
        obs_space.shape,
        obs_space.dtype,
        config.frame_stack,
        config.n_step,
        config.gamma,
        codec=codec,
    )
    checkpoint = run.load_checkpoint() if resume else None
    log_setup(config, learner, replay, log)
    read = batch_reader(config, replay, learner, log)

    n = config.num_envs
    if checkpoint is None:
        counters = Counters(episode_return=[0.0] * n, episode_length=[0] * n)
        counters.next_eval_step = config.eval_every_steps
        counters.next_checkpoint_step = config.checkpoint_every_steps
        frames, _ = envs.reset(seed=config.seed)
        replay.start(frames)
    else:
        counters, envs = restore_checkpoint(
            checkpoint, run, learner, replay, explore_rng, replay_rng, envs
        )
        if checkpoint["envs"] is None:
            # The env could not be pickled: restart its episodes (not step-for-step exact).
            log("env state was not saved: episodes in progress restart")
            frames, _ = envs.reset(seed=config.seed + counters.vector_steps)
            replay.cut_episodes(frames)
            counters.episode_return = [0.0] * n
            counters.episode_length = [0] * n
        run.truncate_metrics(counters.episodes, counters.evaluations)
        log(f"resumed at {counters.env_steps:,} env steps, {counters.episodes:,} episodes")
        spent = budget_spent(config, counters)
        if spent:
            log(f"{spent}: the run stops at once (budgets count the whole run, resumes included)")
    q_online = q_function(learner.online, device, cuda_graph=config.cuda_graph)

    def save_checkpoint() -> None:
        state = checkpoint_state(config, learner, replay, counters, explore_rng, replay_rng, envs)
        run.save_checkpoint(state)

    def run_evaluation(episodes: int, seed: int) -> dict:
        learner.online.eval()
        returns = evaluate(q_online, config, episodes, epsilon=config.eval_epsilon, seed=seed)
        result = summarize(returns)
        learner.online.train()
        return result

    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(
        str(run / TENSORBOARD), purge_step=counters.env_steps if resume else None
    )
    bar = progress_bar(config, counters, enabled=progress)
    started = time.perf_counter() - counters.wall_seconds
    recent = deque(counters.recent_returns, maxlen=config.goal_window)
    episode_return = np.array(counters.episode_return, dtype=np.float64)  # (N,)
    episode_length = np.array(counters.episode_length, dtype=np.int64)  # (N,)
    stop_reason = None
    loss_sum = LossSum(counters)

    with StopSignals() as signals:
        while stop_reason is None:
            # --- stop? ---
            wall = time.perf_counter() - started
            if signals.received is not None:
                stop_reason = signal.Signals(signals.received).name
                break
            if counters.env_steps >= config.max_steps:
                stop_reason = "max_steps"
                break
            if config.max_minutes and wall >= 60.0 * config.max_minutes:
                stop_reason = "max_minutes"
                break

            live = ~replay.latest_is_final()  # (N,) False where this step only resets
            steps_after = counters.env_steps + int(live.sum())

            # --- draw: rounds due at warmup, warmup + k, warmup + 2k, ... env steps, counting
            # this step, all batches in one draw (the replay is the same). Before the act: on a
            # GPU the draw overlaps the last step's updates, which the act waits for.
            batches = []
            if steps_after >= config.warmup_steps and replay.can_sample():
                due = (steps_after - config.warmup_steps) // config.train_every_steps + 1
                count = (due - counters.update_rounds) * config.updates_per_round
                if count > 0:
                    drawn = replay.sample_slots(config.batch_size * count, replay_rng)
                    batches = drawn.split(count)
                counters.update_rounds = max(counters.update_rounds, due)

            # --- act: one batched forward for all envs ---
            epsilon = epsilon_at(
                counters.env_steps,
                config.warmup_steps,
                config.epsilon_start,
                config.epsilon_end,
                config.epsilon_decay_steps,
            )
            explore, random_actions = exploration_draws(n, action_space.n, epsilon, explore_rng)
            if (live & ~explore).any():
                greedy = q_online(replay.latest_stacks()).argmax(axis=1)  # (N,)
            else:  # every env explores or resets: no forward needed
                greedy = np.zeros(n, np.int64)
            actions = np.where(explore, random_actions, greedy)
            send_ahead(envs, actions)  # envs that can step in the background start now

            # --- learn: before the envs' step is collected, so that on a GPU the updates are
            # queued and run meanwhile, and envs that step in the background (ale-py's threads,
            # async processes) do (this step's own transitions are not in the replay yet). The
            # losses are 0-d tensors, added up on the device (LossSum): no sync here.
            losses = [learner.update(read(batch)) for batch in batches]

            # --- step and store ---
            frames, rewards, terminated, truncated, info = envs.step(actions)
            replay.add(actions, rewards, terminated, truncated, frames, info.get("life_loss"))
            counters.vector_steps += 1
            counters.env_steps = steps_after
            episode_return += rewards * live
            episode_length += live
            if losses:
                loss_sum.add(losses)

            # --- finished episodes -> metrics ---
            ended = np.flatnonzero((terminated | truncated) & live)
            if ended.size:
                episode_return = _raw_scores(info, episode_return)
                loss_sum.read()
                if counters.loss_count:
                    counters.last_loss = counters.loss_sum / counters.loss_count
                    counters.loss_sum, counters.loss_count = 0.0, 0
                wall = time.perf_counter() - started
                rows = []
                for e in ended:
                    counters.episodes += 1
                    recent.append(float(episode_return[e]))
                    rows.append(
                        (
                            counters.episodes,
                            counters.env_steps,
                            float(episode_return[e]),
                            int(episode_length[e]),
                            round(epsilon, 6),
                            counters.last_loss,
                            round(wall, 3),
                        )
                    )
                    writer.add_scalar("train/episode_reward", episode_return[e], counters.env_steps)
                episode_return[ended] = 0.0
                episode_length[ended] = 0
                run.append_rows(METRICS, rows)
                if on_episodes is not None:
                    on_episodes(rows)
                train_mean = float(np.mean(recent))
                writer.add_scalar(
                    f"train/mean_reward_{config.goal_window}", train_mean, counters.env_steps
                )
                writer.add_scalar("train/epsilon", epsilon, counters.env_steps)
                if not math.isnan(counters.last_loss):
                    writer.add_scalar("train/loss", counters.last_loss, counters.env_steps)
                full = len(recent) == config.goal_window
                if config.goal_metric == "train" and full and train_mean >= config.goal:
                    counters.goal_reached = goal_record(counters, wall, train_mean)
                    stop_reason = "goal"
                if bar is not None:
                    bar.set_postfix_str(postfix(counters, recent, epsilon, wall), refresh=False)

            # --- evaluate, checkpoint ---
            if config.eval_every_steps and counters.env_steps >= counters.next_eval_step:
                counters.next_eval_step += config.eval_every_steps
                counters.evaluations += 1
                result = run_evaluation(config.eval_episodes, eval_seed_base + counters.evaluations)
                counters.last_eval = {"step": counters.env_steps, **result}
                wall = time.perf_counter() - started
                row = (counters.env_steps, result["episodes"], result["mean"], result["std"])
                run.append_rows(EVALUATIONS, [(*row, result["min"], result["max"], round(wall, 3))])
                writer.add_scalar("eval/mean_reward", result["mean"], counters.env_steps)
                with bar.external_write_mode() if bar is not None else contextlib.nullcontext():
                    log(evaluation_line(config, counters.env_steps, result, wall))
                if config.goal_metric == "eval" and result["mean"] >= config.goal:
                    counters.goal_reached = goal_record(counters, wall, result["mean"])
                    stop_reason = "goal"
            if (
                config.checkpoint_every_steps
                and counters.env_steps >= counters.next_checkpoint_step
            ):
                counters.next_checkpoint_step += config.checkpoint_every_steps
                loss_sum.read()
                sync_counters(counters, recent, episode_return, episode_length, started)
                save_checkpoint()
            if bar is not None:
                bar.update(int(live.sum()))

    # --- stop: checkpoint first, then the things people look at ---
    if bar is not None:
        bar.close()
    loss_sum.read()
    sync_counters(counters, recent, episode_return, episode_length, started)
    save_checkpoint()
    writer.flush()
    interrupted = stop_reason in ("SIGINT", "SIGTERM")
    final_eval = None
    if not interrupted and config.final_eval_episodes:
        final_eval = run_evaluation(config.final_eval_episodes, eval_seed_base)
        writer.add_scalar("eval/final_mean_reward", final_eval["mean"], counters.env_steps)
    video = None
    if not interrupted and config.video:
        learner.online.eval()
        write_episode_video(
            q_online, config, run / VIDEO, seed=eval_seed_base, epsilon=config.eval_epsilon
        )
        video = str(run / VIDEO)
    writer.close()
    envs.close()
    curve = plot_curve(run, config)
    summary = run_summary(
        config,
        run,
        counters,
        recent,
        stop_reason=stop_reason,
        learner=learner,
        final_eval=final_eval,
        video=video,
        curve=curve,
    )
    run.write_summary(summary)
    return summary


def _raw_scores(info: dict, episode_return: np.ndarray) -> np.ndarray:
    """(N,) returns with the game's raw score where the env reports one (Atari's
    ``info["episode"]["r"]``, recorded before reward clipping) for the envs that just ended."""
    if "episode" not in info:
        return episode_return
    ended = np.asarray(info["_episode"], dtype=bool)  # (N,)
    return np.where(ended, np.asarray(info["episode"]["r"], dtype=np.float64), episode_return)

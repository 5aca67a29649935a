"""qarcade.dqn.device: the torch threads a CPU run takes from what other processes leave free."""

import itertools
import json
import os
import subprocess
import sys
import time

import pytest
import torch
from tiny_runs import tiny

from qarcade.dqn import device as device_module
from qarcade.dqn.device import Threads, busy_cores

CPU = torch.device("cpu")


@pytest.fixture(autouse=True)
def _keep_torch_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize(
    ("busy", "most", "threads"),
    [(0.0, 2, 2), (0.3, 2, 2), (1.0, 2, 1), (1.9, 2, 1), (5.0, 2, 1), (2.2, 8, 6), (None, 4, 4)],
)
def test_auto_threads_leave_the_busy_cores_to_their_processes(monkeypatch, busy, most, threads):
    monkeypatch.setattr(device_module, "busy_cores", lambda: busy)
    monkeypatch.setattr(device_module, "DEFAULT_THREADS", most)
    chosen = Threads(tiny(torch_threads=0), CPU, print)
    assert chosen.count == threads == torch.get_num_threads()
    said = chosen.describe()  # the run's first line says the count and why
    assert said.startswith(f"{threads} thread")
    if busy is None:
        assert "load is unknown" in said
    elif threads < most:
        assert f"other work keeps {busy:.1f} of {most} cores busy" in said
    else:
        assert f"{most} cores free" in said


def test_a_set_thread_count_is_kept_and_a_gpu_run_leaves_torch_threads_alone(monkeypatch):
    monkeypatch.setattr(device_module, "busy_cores", lambda: 1.0)
    monkeypatch.setattr(device_module, "DEFAULT_THREADS", 2)
    pinned = Threads(tiny(torch_threads=2), CPU, print)
    assert (pinned.count, pinned.follow) == (2, False)
    assert "--torch-threads" in pinned.describe()
    torch.set_num_threads(3)
    on_gpu = Threads(tiny(torch_threads=0), torch.device("cuda"), print)
    assert on_gpu.count is None and on_gpu.describe() == ""
    assert torch.get_num_threads() == 3


def fake_load(monkeypatch, loads: list[float]) -> None:
    """Busy cores of others: 0 at the start, then ``loads`` at each re-check, at once."""
    monkeypatch.setattr(device_module, "DEFAULT_THREADS", 2)
    monkeypatch.setattr(device_module, "RECHECK_SECONDS", 0.0)
    monkeypatch.setattr(device_module, "busy_cores", lambda: 0.0)
    readings = iter(loads)
    monkeypatch.setattr(device_module, "_others_busy", lambda before, after: next(readings))


def test_an_auto_count_follows_the_load_as_the_run_goes(monkeypatch):
    fake_load(monkeypatch, [0.2, 1.0, 1.1, 0.1])
    said = []
    threads = Threads(tiny(torch_threads=0), CPU, said.append)
    counts = []
    for step in (100, 200, 300, 400):
        threads.recheck(step)
        counts.append(torch.get_num_threads())
    assert counts == [2, 1, 1, 2]
    assert threads.changes == [
        {"env_steps": 200, "threads": 1},
        {"env_steps": 400, "threads": 2},
    ]
    assert said == [
        "torch threads 2 -> 1 at 200 env steps: other work now keeps 1.0 of 2 cores busy",
        "torch threads 1 -> 2 at 400 env steps: other work now keeps 0.1 of 2 cores busy",
    ]


def test_a_set_count_is_never_rechecked(monkeypatch):
    fake_load(monkeypatch, [2.0, 2.0])
    threads = Threads(tiny(torch_threads=2), CPU, print)
    threads.recheck(100)
    assert (threads.count, threads.changes, torch.get_num_threads()) == (2, [], 2)


def test_a_run_records_its_thread_changes_in_its_summary(monkeypatch, tmp_path):
    from tiny_runs import QUIET

    from qarcade.dqn.train import train

    fake_load(monkeypatch, itertools.chain([1.0], itertools.repeat(1.0)))
    summary = train(tiny(torch_threads=0, max_steps=300), tmp_path / "run", **QUIET)
    assert summary["torch_threads"] == {
        "start": 2,
        "changes": [
            {"env_steps": summary["torch_threads"]["changes"][0]["env_steps"], "threads": 1}
        ],
    }
    assert summary["torch_threads"]["changes"][0]["env_steps"] <= 8  # the first step, 4 envs
    assert json.loads((tmp_path / "run" / "config.json").read_text())["torch_threads"] == 0


@pytest.mark.skipif(not os.path.exists("/proc/stat"), reason="reads Linux's /proc/stat")
def test_a_busy_loop_beside_counts_as_about_one_busy_core():
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        busy = busy_cores(0.5)
    finally:
        spinner.kill()
    # one core for the loop; the CI machine may add its own work, never take the loop's away
    assert 0.7 <= busy <= (os.cpu_count() or 1)


@pytest.mark.skipif(not os.path.exists("/proc/stat"), reason="reads Linux's /proc/stat")
def test_this_processs_own_spinning_threads_are_not_counted_as_busy():
    import threading

    stop = threading.Event()

    def spin():  # numpy releases the GIL: a thread of this process keeps a core busy
        import numpy as np

        a = np.random.default_rng(0).random((300, 300))
        while not stop.is_set():
            a @ a

    thread = threading.Thread(target=spin)
    thread.start()
    try:
        time.sleep(0.2)
        busy = busy_cores(0.5)
    finally:
        stop.set()
        thread.join()
    assert busy < 0.6  # the other processes of an idle machine, not this one's thread

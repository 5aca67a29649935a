"""qarcade.dqn.device: the torch threads a CPU run takes from what other processes leave free."""

import os
import subprocess
import sys
import time

import pytest
import torch
from tiny_runs import tiny

from qarcade.dqn import device as device_module
from qarcade.dqn.device import busy_cores, choose_threads

CPU = torch.device("cpu")


@pytest.mark.parametrize(
    ("busy", "most", "threads"),
    [(0.0, 2, 2), (0.3, 2, 2), (1.0, 2, 1), (1.9, 2, 1), (5.0, 2, 1), (2.2, 8, 6), (None, 4, 4)],
)
def test_auto_threads_leave_the_busy_cores_to_their_processes(monkeypatch, busy, most, threads):
    monkeypatch.setattr(device_module, "busy_cores", lambda: busy)
    monkeypatch.setattr(device_module, "DEFAULT_THREADS", most)
    said = []
    chosen = choose_threads(tiny(torch_threads=0), CPU, said.append)
    assert chosen.torch_threads == threads
    assert len(said) == (threads < most)  # a line says why, only when fewer than the default
    if said:
        assert f"torch threads: {threads} of {most}" in said[0]


def test_a_set_thread_count_or_a_gpu_run_is_left_as_it_is(monkeypatch):
    monkeypatch.setattr(device_module, "busy_cores", lambda: 1.0)
    pinned = tiny(torch_threads=2)
    assert choose_threads(pinned, CPU, print) is pinned
    auto = tiny(torch_threads=0)
    assert choose_threads(auto, torch.device("cuda"), print) is auto


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

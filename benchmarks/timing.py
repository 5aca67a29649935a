"""Wall-clock timers wrapped around library functions, shared by the overhead benchmarks."""

from __future__ import annotations

import time
from collections import defaultdict

SECONDS: dict[str, float] = defaultdict(float)  # name -> total seconds inside the function
CALLS: dict[str, int] = defaultdict(int)  # name -> number of calls


def timed(name, function):
    """``function`` with its time and calls added to SECONDS[name] and CALLS[name]."""

    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            SECONDS[name] += time.perf_counter() - start
            CALLS[name] += 1

    return wrapper

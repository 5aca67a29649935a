"""What a question is, and the tools its checks share.

A question is a list of parts; a part is worth some points and is a function of the namespace
holding the student's definitions (``ns["td_target"]`` is their ``td_target``). A part raises
:class:`Wrong` with one helpful sentence when the answer is wrong; any other exception from the
student's code also costs that part, its message shown. ``diagnose`` compares an answer with the
right one and with the answers of the classic mistakes, so that the sentence names the mistake.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np


class Wrong(Exception):
    """An answer is wrong; the message is the one sentence the student reads."""


@dataclass(frozen=True)
class Part:
    points: float
    check: Callable[[dict], None]


@dataclass(frozen=True)
class Question:
    name: str
    title: str
    parts: tuple[Part, ...]
    time_limit_s: float = 60.0  # for the fresh process that checks it
    behaviour: bool = False  # trains or plays for a while (seconds, not milliseconds)

    @property
    def max_points(self) -> float:
        return sum(part.points for part in self.parts)


@dataclass(frozen=True)
class Grade:
    points: float
    max_points: float
    feedback: str


def grade_question(question: Question, ns: dict) -> Grade:
    """Run every part of ``question`` on the student's namespace; the first failure's sentence
    is the feedback (later failures add their points' loss only)."""
    points, feedback = 0.0, []
    for part in question.parts:
        try:
            part.check(ns)
        except Wrong as wrong:
            feedback.append(str(wrong))
        except Exception as error:  # the student's code raised: that part is lost
            feedback.append(f"your code raised {type(error).__name__}: {_one_line(error)}")
        else:
            points += part.points
    text = feedback[0] if feedback else "correct"
    return Grade(points, question.max_points, text)


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return (text[0] if text else "")[:200]


def student_function(ns: dict, name: str) -> Callable:
    value = ns.get(name)
    if not callable(value):
        raise Wrong(f"define a function named {name} (not found in the notebook)")
    return value


def close(actual, expected, atol: float = 1e-5) -> bool:
    try:
        actual = np.asarray(to_numpy(actual), dtype=float)
    except (TypeError, ValueError):
        return False
    expected = np.asarray(expected, dtype=float)
    if actual.shape != expected.shape:
        return False
    return bool(np.allclose(actual, expected, atol=atol, rtol=1e-5, equal_nan=True))


def to_numpy(value):
    """A torch tensor as a numpy array; anything else as it is."""
    if hasattr(value, "detach"):
        return value.detach().cpu().numpy()
    return value


def diagnose(actual, expected, mistakes: dict[str, object], generic: str) -> None:
    """Raise Wrong unless ``actual`` matches ``expected``: with the sentence of the classic
    mistake whose answer it matches, else with ``generic``."""
    if close(actual, expected):
        return
    for sentence, answer in mistakes.items():
        if close(actual, answer):
            raise Wrong(sentence)
    shape = getattr(actual, "shape", None)
    expected_shape = np.shape(expected)
    if shape is not None and tuple(shape) != expected_shape:
        raise Wrong(f"{generic} (expected shape {expected_shape}, got {tuple(shape)})")
    raise Wrong(generic)


def gif_frames(path: Path) -> int:
    """The number of frames of the GIF at ``path``; 0 if it is not one."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return getattr(image, "n_frames", 1)
    except (OSError, UnidentifiedImageError):
        return 0


def tensors(*arrays):
    import torch

    return [torch.as_tensor(np.asarray(a)) for a in arrays]


@contextlib.contextmanager
def one_torch_thread():
    """The checks' networks are tiny: one thread is as fast, and leaves the other cores free."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def reference_td_target(rewards, terminated, truncated, q_next_target, gamma):
    """r + gamma * (1 - terminated) * max_a q_next_target through the library's ``td_target``
    (a truncation still bootstraps): tensors (B,), (B,), (B,), (B, A) -> (B,)."""
    from qarcade.dqn.learner import td_target  # torch: only when a check runs

    discounts = gamma * (1.0 - terminated.float())
    return td_target(rewards.float(), discounts, q_next_target)

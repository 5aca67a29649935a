"""The lab as graded exercises: the questions, their checks, the DQN harness, the grader.

- ``questions``: each question of the lab's exercises (notebooks/lab-exercises.ipynb) and its
  points; its checks are in ``tabular_checks`` and ``dqn_checks`` (hand-computed cases and mock
  Q-functions that catch the classic mistakes; seeded runs for the behaviours), on the shared
  tools of ``checking``.
- ``harness``: trains a student's DQN pieces on the 3x3 gridworld (qarcade supplies the env, the
  replay buffer, the network and the loop).
- ``runner``: ``qarcade grade``'s work: execute a notebook with nbclient, check each answer in a
  fresh process.

``check_answer`` is for Otter-Grader's or nbgrader's hidden tests in the master notebook
(notebooks/lab-master.ipynb): it grades one question on the notebook's globals, in process.
"""

from __future__ import annotations

from qarcade.grading.questions import BY_NAME, QUESTIONS, Grade, grade_question, one_torch_thread

__all__ = ["QUESTIONS", "check_answer"]


def check_answer(name: str, namespace: dict) -> Grade:
    """Grade question ``name`` on ``namespace`` (a notebook's ``globals()``); an AssertionError
    with the feedback sentence unless it gets full marks, as a test cell of Otter or nbgrader
    expects."""
    with one_torch_thread():
        grade = grade_question(BY_NAME[name], namespace)
    assert grade.points == grade.max_points, f"{name}: {grade.feedback}"
    return grade

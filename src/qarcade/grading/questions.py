"""The lab's questions, in its order: what ``qarcade grade`` checks and how many points each is
worth (the master notebook, notebooks/lab-master.ipynb, declares the same names and points).

The checks are hand-computed cases and mock Q-functions chosen so that each classic mistake gives
a different, recognisable answer, named in the feedback; the behaviour questions run the
student's code on seeded runs. Reference answers come from the library (``qarcade.tabular``,
``qarcade.envs``, ``qarcade.dqn``), never from a second copy of the solution.
"""

from __future__ import annotations

from qarcade.grading.checking import (
    Grade,
    Part,
    Question,
    Wrong,
    grade_question,
    one_torch_thread,
)
from qarcade.grading.dqn_checks import (
    AGENT_VIDEO,
    CNN,
    DOUBLE,
    DQN_LEARNS,
    DUELING,
    EPSILON_GREEDY,
    PREPROCESS,
    TARGET_NETWORK,
    TD_TARGET,
    TRAIN_STEP,
    reference_td_target,
)
from qarcade.grading.tabular_checks import (
    GREEDY,
    GRIDWORLD_VIDEO,
    MDP_POLICIES,
    Q_LEARNING,
    Q_UPDATE,
    QVI,
)

__all__ = [
    "BY_NAME",
    "QUESTIONS",
    "Grade",
    "Part",
    "Question",
    "Wrong",
    "grade_question",
    "one_torch_thread",
    "reference_td_target",
]

QUESTIONS: tuple[Question, ...] = (
    MDP_POLICIES,
    Q_UPDATE,
    Q_LEARNING,
    GREEDY,
    QVI,
    GRIDWORLD_VIDEO,
    CNN,
    EPSILON_GREEDY,
    TD_TARGET,
    TARGET_NETWORK,
    TRAIN_STEP,
    DQN_LEARNS,
    AGENT_VIDEO,
    DUELING,
    DOUBLE,
    PREPROCESS,
)
BY_NAME = {question.name: question for question in QUESTIONS}

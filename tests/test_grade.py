"""`qarcade grade`: the solutions get full marks, the blank exercises 0; each classic mistake
costs its question with its sentence and nothing else; a hanging or crashing answer costs its
question only; the command's table, JSON, CSV and errors.

The solutions are graded once (a session fixture: the notebook executed, each question in a
fresh process, the DQN harness trained for 3,000 steps). Mistakes are planted in the solutions'
source and graded in this process, question by question, without re-executing a notebook.
"""

import csv
import dataclasses
import json
import time
from pathlib import Path

import nbformat
import numpy as np
import pytest

from qarcade.cli import main
from qarcade.dqn.replay import ReplayBuffer
from qarcade.grading import QUESTIONS, check_answer, harness, runner
from qarcade.grading.questions import BY_NAME, grade_question, one_torch_thread

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "notebooks" / "lab-solutions.ipynb"
EXERCISES = ROOT / "notebooks" / "lab-exercises.ipynb"
FAST = [q for q in QUESTIONS if not q.behaviour]  # hand-computed cases: milliseconds each


@pytest.fixture(scope="session")
def solutions_grade():
    started = time.perf_counter()
    result = runner.grade_notebook(SOLUTIONS)
    return result, time.perf_counter() - started


@pytest.fixture(scope="module")
def answers():
    """The solutions' answers, (cell index, source) in order, as the grader extracts them."""
    return runner.answers(nbformat.read(SOLUTIONS, as_version=4))


@pytest.fixture(autouse=True)
def one_thread():
    with one_torch_thread():
        yield


def namespace_with(answers, function: str, old: str, new: str) -> dict:
    """The solutions' answers with ``old`` replaced by ``new`` in ``function``, defined here."""
    planted = [
        (i, source.replace(old, new) if source.startswith(f"def {function}(") else source)
        for i, source in answers
    ]
    assert sum(a != b for (_, a), (_, b) in zip(answers, planted, strict=True)) == 1, old
    return runner.define(planted)


def test_the_solutions_get_full_marks_within_the_time_limit(solutions_grade):
    result, seconds = solutions_grade
    assert {name: g.feedback for name, g in result.grades.items() if g.points < g.max_points} == {}
    assert list(result.grades) == [q.name for q in QUESTIONS]
    assert result.score == result.total == sum(q.max_points for q in QUESTIONS) == 33
    assert not result.execution.errors and not result.execution.timed_out
    assert seconds < 600  # the bound on this 2-core CPU


# (question, function, text in its solution, the mistake, words of the expected feedback)
MISTAKES = [
    (
        "td_target",
        "td_target",
        "return rewards + gamma * (1.0 - terminated.float()) * bootstrap",
        "return rewards - gamma * (1.0 - terminated.float()) * bootstrap",
        "sign error",
    ),
    (
        "td_target",
        "td_target",
        "return rewards + gamma * (1.0 - terminated.float()) * bootstrap",
        "return rewards + gamma * bootstrap",
        "terminal mask is missing",
    ),
    (
        "td_target",
        "td_target",
        "return rewards + gamma * (1.0 - terminated.float()) * bootstrap",
        "return rewards + gamma * (1.0 - (terminated | truncated).float()) * bootstrap",
        "time limit (truncated) is not terminal",
    ),
    (
        "double_dqn",
        "double_td_target",
        "bootstrap = q_next_target.gather(1, best).squeeze(1)",
        "bootstrap = q_next_online.gather(1, best).squeeze(1)",
        "evaluates it with the online network",
    ),
    (
        "dueling",
        "dueling_combine",
        "return value + advantage - advantage.mean(dim=1, keepdim=True)",
        "return value + advantage",
        "mean advantage is not subtracted",
    ),
    (
        "dueling",
        "dueling_combine",
        "advantage.mean(dim=1, keepdim=True)",
        "advantage.mean(dim=0, keepdim=True)",
        "not the mean over the batch",
    ),
    (
        "target_network",
        "make_target",
        "return copy.deepcopy(q_online).requires_grad_(False)",
        "return q_online",
        "returned the online network itself",
    ),
    (
        "train_step",
        "train_step",
        'q_next = q_target(batch["next_obs"])',
        'q_next = q_online(batch["next_obs"])',
        "must come from the target network",
    ),
    ("train_step", "train_step", "optimizer.zero_grad()", "pass", "zero_grad, backward, step"),
    (
        "epsilon_greedy",
        "epsilon_greedy",
        "rng.integers(0, a, size=n)",
        "rng.integers(0, a - 1, size=n)",
        "every action should be drawn equally often",
    ),
    (
        "q_update",
        "q_update",
        "q[state, action] += alpha * (target - q[state, action])",
        "q[state, action] += alpha * (q[state, action] - target)",
        "moves Q(s,a) away from the target",
    ),
    (
        "greedy_policy",
        "greedy_policy",
        "np.asarray(q).argmax(axis=1)",
        "np.asarray(q).argmax(axis=0)",
        "over actions (axis 1), not over states",
    ),
]


@pytest.mark.parametrize(
    "question, function, old, new, feedback",
    MISTAKES,
    ids=[f"{m[0]}-{m[4][:20]}" for m in MISTAKES],
)
def test_a_classic_mistake_costs_its_question_with_its_sentence_and_nothing_else(
    answers, question, function, old, new, feedback
):
    namespace = namespace_with(answers, function, old, new)
    grades = {q.name: grade_question(q, namespace) for q in FAST}
    assert grades[question].points < grades[question].max_points
    assert feedback in grades[question].feedback, grades[question].feedback
    others = {n: g.feedback for n, g in grades.items() if n != question and g.points < g.max_points}
    assert others == {}


def test_q_learning_that_never_tries_the_fire_misses_the_optimal_policy(answers):
    namespace = namespace_with(
        answers,
        "q_learning",
        "rng.choice(mdp.POSSIBLE_ACTIONS[state])",
        "rng.choice(mdp.POSSIBLE_ACTIONS[state][:1])",  # state 1: only "stay"
    )
    grade = grade_question(BY_NAME["q_learning"], namespace)
    assert grade.points == 0 and "greedy policy is [0, 0, 1], the optimal one [0, 2, 1]" in (
        grade.feedback
    )


def test_dqn_pieces_that_never_step_the_optimizer_score_below_the_bar(answers, monkeypatch):
    # The harness's own loop, with a train_step that computes the loss but learns nothing: the
    # untrained network's greedy play stays near random (the bar is 15 a game).
    namespace = namespace_with(answers, "train_step", "    optimizer.step()\n", "")
    monkeypatch.setattr(harness, "GRADING_STEPS", 600)
    grade = grade_question(BY_NAME["dqn_learns"], namespace)
    assert grade.points == 0 and "the greedy agent scores" in grade.feedback


def test_check_answer_passes_the_solutions_and_asserts_with_the_feedback(answers):
    namespace = runner.define(answers)
    assert check_answer("dueling", namespace).points == 2
    with pytest.raises(AssertionError, match="mean advantage is not subtracted"):
        check_answer(
            "dueling",
            namespace_with(
                answers, "dueling_combine", " - advantage.mean(dim=1, keepdim=True)", ""
            ),
        )


def test_a_cell_that_hangs_and_one_that_raises_leave_the_rest_graded(tmp_path, answers):
    dueling = next(source for _, source in answers if source.startswith("def dueling_combine"))
    cells = ["import numpy as np", "while True:\n    pass", "raise RuntimeError('boom')", dueling]
    path = tmp_path / "student.ipynb"
    nbformat.write(
        nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells]), path
    )
    result = runner.grade_notebook(path, cell_timeout_s=3, questions=[BY_NAME["dueling"]])
    assert result.execution.timed_out == [1]  # interrupted, and the notebook went on
    assert result.execution.errors == [(2, "RuntimeError: boom")]
    assert result.grades["dueling"].points == 2


def test_an_answer_that_hangs_or_crashes_costs_its_own_question_only(answers):
    planted = [
        *answers,
        (90, "def dueling_combine(value, advantage):\n    while True:\n        pass"),
        (91, "import os\n\n\ndef greedy_policy(q):\n    os._exit(3)"),
    ]
    # the hanging answer's question gets a short time limit; the others keep theirs
    questions = [dataclasses.replace(q, time_limit_s=3) if q.name == "dueling" else q for q in FAST]
    grades = runner.check_questions(planted, questions)
    assert grades["dueling"].points == 0 and "ran past 3 s" in grades["dueling"].feedback
    assert grades["greedy_policy"].points == 0
    assert "crashed the Python process (exit code 3)" in grades["greedy_policy"].feedback
    lost = {name for name, g in grades.items() if g.points < g.max_points}
    assert lost == {"dueling", "greedy_policy"}


def test_the_blank_exercises_grade_to_zero_and_a_file_that_is_no_notebook_is_one_line(
    tmp_path, capsys
):
    bad = tmp_path / "essay.ipynb"
    bad.write_text("my answers are in the pdf")
    grades = tmp_path / "class.csv"
    code = main(["grade", str(EXERCISES), str(bad), "--json", "--csv", str(grades)])
    out, err = capsys.readouterr()
    assert code == 2  # graded what it could; one file was not a notebook
    assert err.strip() == f"qarcade grade: error: {bad}: not a notebook (not JSON)"
    (line,) = out.strip().splitlines()  # one JSON object per graded notebook
    report = json.loads(line)
    assert set(report) == {"notebook", "questions", "score", "total"}
    assert list(report["questions"]) == [q.name for q in QUESTIONS]
    assert (report["score"], report["total"]) == (0, 33)
    td = report["questions"]["td_target"]
    assert td["points"] == 0 and td["max"] == 3 and "td_target should be" in td["feedback"]
    rows = list(csv.DictReader(grades.open()))
    assert len(rows) == 1 and rows[0]["notebook"] == str(EXERCISES)
    assert rows[0]["score"] == "0" and rows[0]["total"] == "33" and rows[0]["dqn_learns"] == "0"


def test_the_table_has_a_row_per_question_and_the_total(solutions_grade, capsys):
    from qarcade.cli.grade import table

    text = table(solutions_grade[0])
    lines = text.splitlines()
    assert lines[0].endswith(": 33 / 33")
    assert len([line for line in lines if line.endswith("correct")]) == len(QUESTIONS)
    assert lines[-2].split() == ["total", "33", "33"]


def test_a_missing_file_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["grade", str(tmp_path / "nowhere.ipynb")]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_the_harness_batch_holds_each_transitions_own_terminated_and_truncated_flags():
    # Frames hold their slot number, so a sampled obs says which step it is. Episodes of 20
    # steps end alternately by termination and by the time limit; each end is followed by the
    # reset step the replay expects (a final frame, never sampled).
    replay = ReplayBuffer(1_000, 1, (1,), np.uint8, gamma=0.9)
    replay.start(np.zeros((1, 1), np.uint8))
    flags, episode, length = [], 0, 0  # flags[slot]: (terminated, truncated) of its step

    def add(terminated, truncated):
        flags.append((terminated, truncated))
        frame = np.full((1, 1), replay.cursor + 1, np.uint8)
        replay.add(np.zeros(1, np.int64), np.ones(1), [terminated], [truncated], frame)

    for _ in range(200):
        length += 1
        done = length == 20
        add(done and episode % 2 == 0, done and episode % 2 == 1)
        if done:
            add(False, False)
            episode, length = episode + 1, 0
    batch = harness.sample_batch(replay, 256, np.random.default_rng(0))
    slots = batch["obs"][:, 0, 0].numpy().astype(int)  # (B,)
    assert batch["terminated"].tolist() == [flags[s][0] for s in slots]
    assert batch["truncated"].tolist() == [flags[s][1] for s in slots]
    assert batch["terminated"].any() and batch["truncated"].any()
    # a truncated step's next observation is its true final frame: it still bootstraps
    assert (batch["next_obs"][:, 0, 0].numpy() == slots + 1).all()


def test_the_answers_are_the_definitions_not_the_work():
    source = (
        "%matplotlib inline\nimport os; trained = train()\n@functools.cache\ndef g(a):\n"
        "    return a\nY: tuple = (1, 2)\nwhile True:\n    pass"
    )
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(source), nbformat.v4.new_code_cell("def broken(:")]
    )
    assert runner.answers(nb) == [
        (0, "import os"),
        (0, "@functools.cache\ndef g(a):\n    return a"),
        (0, "Y: tuple = (1, 2)"),
    ]

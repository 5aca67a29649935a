"""The lab's exercise and solution notebooks: generated from the master, up to date, and made as
Otter Assign makes them (the solutions blanked, hidden tests removed, the markers gone)."""

import importlib.util
from pathlib import Path

import nbformat
import pytest

from qarcade.grading import QUESTIONS

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("gen", ROOT / "scripts" / "gen_lab_notebooks.py")
gen = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gen)


def read(path):
    return nbformat.read(path, as_version=4)


def test_the_committed_notebooks_are_what_the_master_generates():
    exercises, solutions = gen.generate(read(gen.MASTER))
    assert gen.EXERCISES.read_text(encoding="utf-8") == gen.text(exercises), "run the script"
    assert gen.SOLUTIONS.read_text(encoding="utf-8") == gen.text(solutions), "run the script"
    assert gen.main(["--check"]) == 0


def test_the_masters_questions_are_the_graders_with_the_same_points():
    master = read(gen.MASTER)
    declared = []
    for cell in master.cells:
        if cell.cell_type == "raw" and cell.source.startswith("# BEGIN QUESTION"):
            fields = dict(line.split(": ") for line in cell.source.splitlines()[1:])
            declared.append((fields["name"], float(fields["points"])))
    assert declared == [(q.name, q.max_points) for q in QUESTIONS]


def test_exercises_have_blanks_where_the_solutions_have_answers():
    exercises, solutions = read(gen.EXERCISES), read(gen.SOLUTIONS)
    assert len(exercises.cells) == len(solutions.cells)
    blanked = 0
    for student, solved in zip(exercises.cells, solutions.cells, strict=True):
        assert "check_answer" not in student.source + solved.source  # hidden tests removed
        assert "SOLUTION" not in student.source + solved.source  # markers removed
        assert student.cell_type != "raw" and not getattr(solved, "outputs", [])
        if student.source != solved.source:
            blanked += 1
            signatures = [line for line in solved.source.splitlines() if line.startswith("def ")]
            assert signatures and all(line in student.source for line in signatures)
            assert "..." in student.source  # the same functions, their bodies blanked
    assert blanked == 15  # one answer cell per question but dqn_learns (nothing to write)


@pytest.mark.parametrize(
    "master, student",
    [
        (["x = compute(1)  # SOLUTION"], ["x = ..."]),
        (["    q[s, a] += 1  # SOLUTION"], ["    ..."]),
        (["    return f(x)  # SOLUTION"], ["    ..."]),
        (
            ["def f():", "    # BEGIN SOLUTION", "    a = 1", "    return a", "    # END SOLUTION"],
            ["def f():", "    ..."],
        ),
        (["# BEGIN SOLUTION NO PROMPT", "a = 1", "# END SOLUTION", "b = 2"], ["b = 2"]),
    ],
)
def test_solutions_are_blanked_by_otter_assigns_rules(master, student):
    assert gen.student_lines(master) == student
    assert not any("SOLUTION" in line for line in gen.solution_lines(master))


def test_a_hidden_test_is_dropped_and_a_public_one_kept():
    master = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_raw_cell("# BEGIN QUESTION\nname: q\npoints: 1"),
            nbformat.v4.new_raw_cell("# BEGIN SOLUTION"),
            nbformat.v4.new_code_cell("x = 2  # SOLUTION"),
            nbformat.v4.new_raw_cell("# END SOLUTION"),
            nbformat.v4.new_raw_cell("# BEGIN TESTS"),
            nbformat.v4.new_code_cell("assert isinstance(x, int)"),
            nbformat.v4.new_code_cell("# HIDDEN\nassert x == 2"),
            nbformat.v4.new_raw_cell("# END TESTS"),
            nbformat.v4.new_raw_cell("# END QUESTION"),
        ]
    )
    exercises, solutions = gen.generate(master)
    assert [c.source for c in exercises.cells] == ["x = ...", "assert isinstance(x, int)"]
    assert [c.source for c in solutions.cells] == ["x = 2", "assert isinstance(x, int)"]

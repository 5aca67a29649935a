"""Write the lab's student and solution notebooks from its master notebook.

    python scripts/gen_lab_notebooks.py           # rewrite both from notebooks/lab-master.ipynb
    python scripts/gen_lab_notebooks.py --check   # exit 1 if either is out of date

The master is in Otter-Grader's notebook format (Otter Assign's "v1" format): raw cells
``# ASSIGNMENT CONFIG``, ``# BEGIN QUESTION`` (``name``, ``points``) ... ``# END QUESTION``,
``# BEGIN SOLUTION`` ... ``# END SOLUTION`` around solution cells and ``# BEGIN TESTS`` ...
``# END TESTS`` around test cells; in a solution cell, ``# BEGIN SOLUTION`` / ``# END SOLUTION``
comment lines mark a block and a trailing ``# SOLUTION`` a line. This script does what
``otter assign`` does to the cells, offline and without Otter installed:

- the student's notebook (lab-exercises.ipynb): a solution block becomes ``...`` at its
  indentation, a ``# SOLUTION`` line ``name = ...`` (an assignment) or ``...`` (Otter's rules
  and regular expressions); hidden tests (a first line ``# HIDDEN``) are removed and the public
  ones stay as visible checks (as nbgrader shows them; Otter would move them to ``tests/``);
- the solutions (lab-solutions.ipynb): the markers are removed, hidden tests too (they call
  ``qarcade.grading.check_answer``, which ``qarcade grade`` runs in its own way);
- in both, the raw marker cells go and outputs are cleared.

tests/test_grade_notebooks.py fails when the committed notebooks are out of date.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
MASTER = NOTEBOOKS / "lab-master.ipynb"
EXERCISES = NOTEBOOKS / "lab-exercises.ipynb"
SOLUTIONS = NOTEBOOKS / "lab-solutions.ipynb"

# Otter Assign's substitutions for a "# SOLUTION" line (otter/assign/solutions.py)
ASSIGNMENT = re.compile(
    r"(\s*(?:[\w.]+(?=[^\w.])(?:\[['\"]?.*['\"]?\])*(?:,\s*)?)+\s*=).* ?# ?SOLUTION"
)
LINE = re.compile(r"(\s*).* ?# ?SOLUTION")
BEGIN = re.compile(r"(\s*)# BEGIN SOLUTION( NO PROMPT)?")
MARKER = re.compile(r"#\s+(BEGIN|END)\s+(QUESTION|SOLUTION|TESTS|PROMPT)\b|#\s+ASSIGNMENT\s+CONFIG")


def student_lines(lines: list[str]) -> list[str]:
    """A solution cell's lines with the solutions replaced by ``...`` (Otter's rules)."""
    out, inside = [], False
    for line in lines:
        if line.rstrip().endswith("# END SOLUTION"):
            inside = False
            continue
        if inside:
            continue
        begin = BEGIN.match(line)
        if begin:
            inside = True
            if not begin.group(2):
                out.append(begin.group(1) + "...")
            continue
        assignment, solution = ASSIGNMENT.match(line), LINE.match(line)
        if assignment:
            line = assignment.group(1) + " ..."
        elif solution:
            line = solution.group(1) + "..."
        out.append(line)
    return out


def solution_lines(lines: list[str]) -> list[str]:
    """A solution cell's lines with the markers removed."""
    out = []
    for line in lines:
        if re.match(r"\s*# (BEGIN|END) SOLUTION", line):
            continue
        out.append(re.sub(r"\s*# ?SOLUTION( NO PROMPT)?$", "", line))
    return out


def is_marker(cell) -> bool:
    return cell.cell_type == "raw" and bool(MARKER.match(cell.source.lstrip()))


def is_hidden_test(cell) -> bool:
    first = cell.source.lstrip().splitlines()[:1]
    return bool(first) and first[0].startswith("#") and "hidden" in first[0].lower()


def generate(master) -> tuple[nbformat.NotebookNode, nbformat.NotebookNode]:
    """(exercises, solutions) from the master notebook."""
    exercises = nbformat.v4.new_notebook(metadata=master.metadata)
    solutions = nbformat.v4.new_notebook(metadata=master.metadata)
    block = None  # "solution" or "tests" while inside one
    for cell in master.cells:
        if is_marker(cell):
            words = cell.source.split()
            if words[1] == "BEGIN" and words[2] in ("SOLUTION", "TESTS"):
                block = words[2].lower()
            elif words[1] == "END" and words[2] in ("SOLUTION", "TESTS"):
                block = None
            continue
        if block == "tests" and cell.cell_type == "code" and is_hidden_test(cell):
            continue
        for notebook, rewrite in ((exercises, student_lines), (solutions, solution_lines)):
            copy = nbformat.from_dict(dict(cell))
            if copy.cell_type == "code":
                copy.outputs, copy.execution_count = [], None
                if block == "solution":
                    copy.source = "\n".join(rewrite(cell.source.split("\n")))
            notebook.cells.append(copy)
    return exercises, solutions


def text(notebook) -> str:
    return nbformat.writes(notebook) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a notebook is stale")
    args = parser.parse_args(argv)
    exercises, solutions = generate(nbformat.read(MASTER, as_version=4))
    stale = []
    for path, notebook in ((EXERCISES, exercises), (SOLUTIONS, solutions)):
        wanted = text(notebook)
        if args.check:
            if not path.is_file() or path.read_text(encoding="utf-8") != wanted:
                stale.append(path.name)
        else:
            path.write_text(wanted, encoding="utf-8")
            print(f"wrote {path}")
    if stale:
        print(
            f"out of date with {MASTER.name}: {', '.join(stale)} "
            "(run python scripts/gen_lab_notebooks.py)",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

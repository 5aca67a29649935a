"""``qarcade grade NOTEBOOK...``: the lab's exercises, graded (``qarcade.grading``).

Each notebook is executed, then each answer checked in a fresh process; this module prints the
grades as a table, JSON lines or a CSV file. A file that is not a notebook is one line on stderr
and a non-zero exit; the other notebooks are still graded.
"""

from __future__ import annotations

import csv
import json
import sys

from qarcade.cli.common import command, positive_int


def _grade_arguments(parser):
    """Grade students' copies of the lab's exercises (notebooks/lab-exercises.ipynb). Each
    notebook is executed top to bottom in a fresh Jupyter kernel (a time limit per cell and per
    notebook; a cell that raises or hangs is recorded and the rest runs), then each question is
    checked in a fresh process: the student's functions against hand-computed cases and mock
    Q-functions that catch the classic mistakes, and seeded runs for the behaviours (their
    Q-learning reaches the optimal policy; their DQN pieces learn the 3x3 gridworld). Code that
    hangs or crashes costs its question only. Prints per notebook a table (question, points,
    max, one sentence on what went wrong) and the total; exit 0 once graded, whatever the score.
    The teachers' guide: docs/guide-teachers.md.
    """
    from qarcade.grading import runner

    parser.add_argument("notebooks", nargs="+", metavar="NOTEBOOK", help="an .ipynb to grade")
    parser.add_argument(
        "--json",
        action="store_true",
        help='print one JSON object per notebook: {"notebook", "questions": {NAME: {"points", '
        '"max", "feedback"}}, "score", "total"}',
    )
    parser.add_argument(
        "--csv", metavar="FILE", help="also write one row per notebook (the class's grades)"
    )
    parser.add_argument(
        "--timeout",
        type=positive_int,
        default=runner.NOTEBOOK_TIMEOUT_S,
        help="seconds to execute one notebook, all cells together",
    )
    parser.add_argument(
        "--cell-timeout",
        type=positive_int,
        default=runner.CELL_TIMEOUT_S,
        help="seconds for one cell before it is interrupted",
    )
    parser.add_argument(
        "--jobs", type=positive_int, default=2, help="questions checked at the same time"
    )


@command("grade", "grade notebooks of the lab's exercises")(_grade_arguments)
def run_grade(args) -> int:
    from qarcade.errors import UserError
    from qarcade.grading import runner
    from qarcade.outfiles import check_output

    if args.csv is not None:  # said now, not after an hour of grading
        check_output(args.csv, "CSV file")
    graded, failed = [], 0
    for path in args.notebooks:
        try:
            result = runner.grade_notebook(
                path,
                cell_timeout_s=args.cell_timeout,
                notebook_timeout_s=args.timeout,
                jobs=args.jobs,
            )
        except UserError as error:
            print(f"qarcade grade: error: {error}", file=sys.stderr)
            failed += 1
            continue
        graded.append(result)
        if args.json:
            print(json.dumps(result.as_dict()), flush=True)
        else:
            print(table(result), flush=True)
    if args.csv and graded:
        write_csv(args.csv, graded)
        if not args.json:
            print(f"wrote {args.csv} ({len(graded)} notebook(s))")
    return 2 if failed else 0


def _number(value: float) -> str:
    return f"{value:g}"


def table(result) -> str:
    """The grade of one notebook as a table: question, points, max, feedback; then the total."""
    rows = [
        (name, _number(g.points), _number(g.max_points), g.feedback)
        for name, g in result.grades.items()
    ]
    width = max(len("question"), *(len(row[0]) for row in rows))
    lines = [f"{result.path}: {_number(result.score)} / {_number(result.total)}"]
    lines.append(f"  {'question':<{width}}  points  max  feedback")
    for name, points, maximum, feedback in rows:
        lines.append(f"  {name:<{width}}  {points:>6}  {maximum:>3}  {feedback}")
    lines.append(f"  {'total':<{width}}  {_number(result.score):>6}  {_number(result.total):>3}")
    execution = result.execution
    notes = []
    failed = [message for index, message in execution.errors if index < 0]  # the kernel's
    raised = [str(index) for index, _ in execution.errors if index >= 0]
    notes += failed
    if raised:
        notes.append(f"cells that raised: {', '.join(raised[:8])}")
    if execution.timed_out:
        cells = ", ".join(str(index) for index in execution.timed_out[:8])
        notes.append(f"cells stopped by the time limit: {cells}")
    notes.append(f"executed in {execution.seconds:.0f} s, graded in {result.seconds:.0f} s")
    lines.append("  (" + "; ".join(notes) + ")")
    return "\n".join(lines)


def write_csv(path: str, results) -> None:
    """One row per notebook: notebook, score, total, then each question's points."""
    from qarcade.outfiles import writing

    names = list(results[0].grades)
    with writing(path, "CSV file") as tmp, open(tmp, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["notebook", "score", "total", *names])
        for result in results:
            points = [_number(result.grades[name].points) for name in names]
            writer.writerow([result.path, _number(result.score), _number(result.total), *points])

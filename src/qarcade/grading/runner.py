"""Grade a notebook: execute it, then check each answer in a fresh process.

1. **Execute** the notebook top to bottom in a fresh Jupyter kernel (nbclient), in a temporary
   working directory, with ``QARCADE_GRADING=1`` in its environment (the lab's notebook then
   picks small budgets). A cell that raises is recorded and execution goes on; a cell that runs
   past its time limit is interrupted and execution goes on; the whole notebook has a time limit
   too. Nothing is fetched: the notebook and qarcade's library are all it runs.
2. **Extract the answers**: the notebook's top-level imports, ``def``s, ``class``es and
   assignments of plain values (no calls), in order. Work done at the top level (training, a
   plot, a loop that never ends) is not part of an answer, so it cannot hang the checks.
3. **Check** each question in a process of its own, forked from a server that has imported
   torch and qarcade once (milliseconds a question): the answers are executed there, then the
   question's checks (``qarcade.grading.questions``). A question whose code hangs is killed at
   its time limit and one whose code crashes the process scores 0; the others are unaffected.
"""

from __future__ import annotations

import ast
import json
import multiprocessing
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from pathlib import Path

from qarcade.errors import UserError
from qarcade.grading.questions import BY_NAME, QUESTIONS, Grade, Question

CELL_TIMEOUT_S = 120
NOTEBOOK_TIMEOUT_S = 600


@dataclass
class Execution:
    """What executing the notebook showed: per code cell that failed, its index and why."""

    errors: list[tuple[int, str]] = field(default_factory=list)
    timed_out: list[int] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class NotebookGrade:
    path: str
    grades: dict[str, Grade]
    execution: Execution
    seconds: float

    @property
    def score(self) -> float:
        return sum(grade.points for grade in self.grades.values())

    @property
    def total(self) -> float:
        return sum(grade.max_points for grade in self.grades.values())

    def as_dict(self) -> dict:
        """The issue's JSON: questions (points, max, feedback), score and total."""
        return {
            "notebook": self.path,
            "questions": {
                name: {"points": g.points, "max": g.max_points, "feedback": g.feedback}
                for name, g in self.grades.items()
            },
            "score": self.score,
            "total": self.total,
        }


def read_notebook(path: str | Path):
    """The notebook at ``path`` (nbformat v4), or a UserError saying in one line why not."""
    import nbformat

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    try:
        text = path.read_text(encoding="utf-8")
        raw = json.loads(text)
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"{path}: cannot read it ({error.__class__.__name__})") from None
    except json.JSONDecodeError:
        raise UserError(f"{path}: not a notebook (not JSON)") from None
    if not isinstance(raw, dict) or "cells" not in raw or "nbformat" not in raw:
        raise UserError(f"{path}: not a notebook (no cells or nbformat version)")
    try:
        return nbformat.reads(text, as_version=4)
    except Exception as error:  # nbformat's own validation and conversion errors
        raise UserError(f"{path}: not a readable notebook ({error})") from None


def execute(nb, workdir: Path, cell_timeout_s: float, notebook_timeout_s: float) -> Execution:
    """Run every code cell of ``nb`` (in place) in a fresh kernel; never raises for a cell."""
    try:
        from nbclient import NotebookClient
    except ImportError:
        raise UserError(
            "executing notebooks needs nbclient and ipykernel: pip install 'qarcade[grade]'"
        ) from None

    started = time.monotonic()
    deadline = started + notebook_timeout_s
    execution = Execution()
    env = {**os.environ, "QARCADE_GRADING": "1", "MPLBACKEND": "Agg"}
    client = NotebookClient(
        nb,
        timeout=int(cell_timeout_s),
        kernel_name="python3",
        allow_errors=True,
        interrupt_on_timeout=True,
        # after the interrupt, go on at once (a cell stuck in C code may ignore it)
        error_on_timeout={"ename": "Timeout", "evalue": "interrupted", "traceback": []},
        resources={"metadata": {"path": str(workdir)}},
    )
    try:
        # the kernel's own log (a warning about its local TCP transport) is no grading output
        with client.setup_kernel(env=env, cwd=str(workdir), stderr=subprocess.DEVNULL):
            _execute_cells(client, nb, execution, cell_timeout_s, deadline)
    except Exception as error:  # the kernel did not start or died: the answers are still graded
        execution.errors.append((-1, f"the kernel failed: {type(error).__name__}: {error}"[:200]))
    execution.seconds = time.monotonic() - started
    return execution


def _execute_cells(client, nb, execution: Execution, cell_timeout_s: float, deadline: float):
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        remaining = deadline - time.monotonic()
        if remaining < 1:
            execution.timed_out.append(index)
            continue
        client.timeout = max(1, int(min(cell_timeout_s, remaining)))
        cell_started = time.monotonic()
        try:
            client.execute_cell(cell, index)
        except CellTimeoutError:
            execution.timed_out.append(index)
            continue
        except DeadKernelError:
            execution.errors.append((index, "the kernel died"))
            return
        error = next((o for o in cell.outputs if o.output_type == "error"), None)
        if time.monotonic() - cell_started >= client.timeout - 0.5:
            execution.timed_out.append(index)  # interrupted (its error may not show)
        elif error is not None:
            execution.errors.append((index, f"{error.ename}: {error.evalue}"[:200]))


def answers(nb) -> list[tuple[int, str]]:
    """The top-level statements that define answers, as (cell index, source), in order."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        transform = TransformerManager().transform_cell  # %magics and !shell to Python
    except ImportError:  # pragma: no cover - ipykernel brings IPython
        transform = str
    kept = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        try:
            source = transform(cell.source)
            tree = ast.parse(source)
        except (SyntaxError, ValueError):
            continue
        for node in tree.body:
            if _defines(node):
                decorators = getattr(node, "decorator_list", [])  # not part of the def's text
                text = [f"@{ast.get_source_segment(source, d)}" for d in decorators]
                kept.append((index, "\n".join([*text, ast.get_source_segment(source, node)])))
    return kept


def _defines(node: ast.stmt) -> bool:
    if isinstance(node, ast.Import | ast.ImportFrom | ast.FunctionDef | ast.ClassDef):
        return True
    if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
        # a plain value: nothing is called (no training, no env, no loop) to compute it
        calls = (ast.Call, ast.Await, ast.Yield, ast.YieldFrom, ast.NamedExpr)
        return not any(isinstance(child, calls) for child in ast.walk(node.value))
    return False


# --- each question in a fresh process ---

_PRELOAD = ["qarcade.grading.harness", "qarcade.grading.questions", "qarcade.envs.gridworld"]


def _context():
    """Processes forked from a server that has imported torch and qarcade: a fresh process
    costs milliseconds instead of the seconds of importing torch."""
    if "forkserver" not in multiprocessing.get_all_start_methods():  # pragma: no cover
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(_PRELOAD)
    return context


def check_in_child(connection, name: str, statements: list[tuple[int, str]]) -> None:
    """In the fresh process: define the answers, run the question's checks, send the Grade."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # the student's prints go nowhere
    os.dup2(devnull, 2)
    from qarcade.grading.questions import grade_question, one_torch_thread

    namespace = define(statements)
    with one_torch_thread():
        grade = grade_question(BY_NAME[name], namespace)
    connection.send((grade.points, grade.max_points, grade.feedback))
    connection.close()


def define(statements: list[tuple[int, str]]) -> dict:
    """A namespace with the statements executed in order; one that raises is skipped."""
    namespace = {"__name__": "__main__"}
    for index, source in statements:
        try:
            exec(compile(source, f"<notebook cell {index}>", "exec"), namespace)
        except BaseException:  # noqa: BLE001 - a student's statement; the checks will say
            pass
    return namespace


def check_questions(
    statements: list[tuple[int, str]],
    questions: list[Question] | tuple[Question, ...] = QUESTIONS,
    jobs: int = 2,
) -> dict[str, Grade]:
    """Grade each question in its own process, ``jobs`` at a time, the slow ones first."""
    context = _context()
    order = sorted(questions, key=lambda q: -q.time_limit_s)
    pending, running, grades = list(order), {}, {}
    while pending or running:
        while pending and len(running) < max(1, jobs):
            question = pending.pop(0)
            receive, send = context.Pipe(duplex=False)
            process = context.Process(
                target=check_in_child, args=(send, question.name, statements), daemon=True
            )
            process.start()
            send.close()
            running[question.name] = (question, process, receive, time.monotonic())
        wait([entry[2] for entry in running.values()], timeout=0.2)
        for name, (question, process, receive, started) in list(running.items()):
            grade = None
            if receive.poll():
                try:
                    grade = Grade(*receive.recv())
                except (EOFError, OSError):
                    grade = Grade(0, question.max_points, _crashed(process))
            elif not process.is_alive():
                grade = Grade(0, question.max_points, _crashed(process))
            elif time.monotonic() - started > question.time_limit_s:
                grade = Grade(
                    0,
                    question.max_points,
                    f"your code ran past {question.time_limit_s:g} s and was stopped "
                    "(a loop that never ends?)",
                )
            if grade is not None:
                if process.is_alive():
                    process.kill()
                process.join()
                receive.close()
                grades[name] = grade
                del running[name]
    return {question.name: grades[question.name] for question in questions}


def _crashed(process) -> str:
    process.join(timeout=1)
    return f"your code crashed the Python process (exit code {process.exitcode})"


def grade_notebook(
    path: str | Path,
    *,
    cell_timeout_s: float = CELL_TIMEOUT_S,
    notebook_timeout_s: float = NOTEBOOK_TIMEOUT_S,
    jobs: int = 2,
    questions: list[Question] | tuple[Question, ...] = QUESTIONS,
) -> NotebookGrade:
    """Execute the notebook at ``path`` and grade its answers; a UserError if it is not one."""
    started = time.monotonic()
    nb = read_notebook(path)
    with tempfile.TemporaryDirectory(prefix="qarcade-grade-") as workdir:
        execution = execute(nb, Path(workdir), cell_timeout_s, notebook_timeout_s)
    grades = check_questions(answers(nb), questions, jobs)
    return NotebookGrade(str(path), grades, execution, time.monotonic() - started)

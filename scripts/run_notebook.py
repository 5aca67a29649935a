"""Execute notebooks/lab.ipynb top to bottom and fail on the first error.

    python scripts/run_notebook.py                 # full budgets (long on a CPU)
    python scripts/run_notebook.py --ci            # tiny budgets, about a minute
    python scripts/run_notebook.py --ci --out executed.ipynb --runs /tmp/lab-runs

The notebook reads its budgets from QARCADE_NOTEBOOK_CI and writes its runs under
QARCADE_NOTEBOOK_RUNS; both are set here for the kernel. tests/test_notebook.py calls
``execute`` with --ci budgets, so `make test` runs the notebook.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "lab.ipynb"


def execute(
    notebook: Path = NOTEBOOK,
    *,
    ci: bool = True,
    runs_dir: Path | None = None,
    out: Path | None = None,
    cell_timeout_s: int | None = None,
):
    """Run every cell in a fresh kernel (this interpreter's ``python3``); returns the executed
    notebook. A failing cell raises ``nbclient.exceptions.CellExecutionError`` naming it, a cell
    still running after ``cell_timeout_s`` seconds (None: no limit) ``CellTimeoutError``."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(notebook, as_version=4)
    saved = {key: os.environ.get(key) for key in ("QARCADE_NOTEBOOK_CI", "QARCADE_NOTEBOOK_RUNS")}
    os.environ["QARCADE_NOTEBOOK_CI"] = "1" if ci else "0"
    if runs_dir is not None:
        os.environ["QARCADE_NOTEBOOK_RUNS"] = str(runs_dir)
    try:  # the kernel inherits this environment; its working directory is the notebook's
        client = NotebookClient(
            nb,
            timeout=cell_timeout_s,
            kernel_name="python3",
            resources={"metadata": {"path": str(notebook.parent)}},
        )
        client.execute()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    if out is not None:
        nbformat.write(nb, out)
    return nb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ci", action="store_true", help="tiny budgets (QARCADE_NOTEBOOK_CI=1)")
    parser.add_argument("--runs", type=Path, help="where the notebook writes its runs")
    parser.add_argument("--out", type=Path, help="write the executed notebook here")
    parser.add_argument("--notebook", type=Path, default=NOTEBOOK)
    parser.add_argument(
        "--cell-timeout", type=int, metavar="SECONDS", help="limit per cell (default: none)"
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    execute(
        args.notebook,
        ci=args.ci,
        runs_dir=args.runs,
        out=args.out,
        cell_timeout_s=args.cell_timeout,
    )
    print(f"{args.notebook} ran in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

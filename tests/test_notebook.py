"""notebooks/lab.ipynb runs top to bottom with CI budgets, shows what each part of the lab should
show, and stays a thin client of the library."""

import importlib.util
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "lab.ipynb"


def load_runner():
    spec = importlib.util.spec_from_file_location("run_notebook", ROOT / "scripts/run_notebook.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def code_cells(nb):
    return [cell for cell in nb.cells if cell.cell_type == "code"]


def test_notebook_is_a_thin_client_checked_in_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    cells = code_cells(nb)
    assert "QARCADE_NOTEBOOK_CI" in cells[0].source, "the first code cell sets the budgets"
    for cell in cells:
        assert not cell.outputs and cell.execution_count is None, "strip outputs before commit"
        for line in cell.source.splitlines():
            assert not line.lstrip().startswith(("def ", "class ", "import torch")), line


@pytest.mark.slow
def test_notebook_runs_with_ci_budgets(tmp_path):
    executed = load_runner().execute(NOTEBOOK, ci=True, runs_dir=tmp_path, cell_timeout_s=300)
    outputs = [output for cell in code_cells(executed) for output in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "\n".join(o.get("text", "") + o.get("data", {}).get("text/plain", "") for o in outputs)
    assert "1814436" in text and "1683365" in text  # the lab's CNN, plain and dueling
    assert "[0, 0, 1]" in text and "[0, 2, 1]" in text  # the optimal policies by gamma
    kinds = [kind for o in outputs for kind in o.get("data", {})]
    assert kinds.count("image/png") >= 5 and "image/gif" not in kinds  # lost in an HTML export
    html = [o.data["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    assert sum("data:image/gif;base64," in h for h in html) == 2  # section 5's and the agent's
    # the lab's CNN in the lab's names
    assert "conv 512 7x7/1" in text and "dense 4 (advantage)" in text
    assert "WholeMapConv2d" not in text
    # no progress bars on stderr, which a student reads as errors
    assert not [o for o in outputs if o.output_type == "stream" and o.name == "stderr"]
    (execution,) = [path for path in tmp_path.iterdir() if path.is_dir()]
    for name in ("mdp_q.png", "family.png", "dqn-agent.gif", "mspacman_frames.png"):
        assert (execution / name).stat().st_size > 1000, name
    assert (execution / "family" / "d3qn-seed0" / "values.png").is_file()
    assert len(list((execution / "family").iterdir())) == 4 * 2  # 4 variants x 2 seeds
    assert "1,000 agent steps (4,000 frames)" in text  # the Atari run, 4 frames a step
    assert (execution / "mspacman" / "summary.json").is_file()
    # the live learning curve: one picture in its cell, updated in place while the run trained
    (live,) = [cell for cell in code_cells(executed) if "on_episodes=live" in cell.source]
    pictures = [o for o in live.outputs if "image/png" in o.get("data", {})]
    assert len(pictures) == 1 and len(pictures[0].data["image/png"]) > 1000
    redraws = re.search(r"the curve was redrawn (\d+) times", text)
    assert redraws and int(redraws.group(1)) >= 1

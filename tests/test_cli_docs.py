"""docs/cli.md is the parser's own --help (regenerate it with scripts/gen_cli_docs.py), and the
guides, the README tour and the notebook name real flags and link to pages that exist."""

import importlib.util
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def load_generator():
    spec = importlib.util.spec_from_file_location("gen_cli_docs", ROOT / "scripts/gen_cli_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_reference_is_up_to_date(monkeypatch):
    generator = load_generator()
    checked_in = generator.CLI_MD.read_text()
    made_with = re.search(r"\(Python (\d+\.\d+)\)", checked_in)
    if made_with and made_with.group(1) != generator.python_version():
        pytest.skip(f"docs/cli.md was made with Python {made_with.group(1)}: argparse differs")
    monkeypatch.setenv("COLUMNS", "37")  # the terminal's width must not matter
    assert generator.cli_reference() == checked_in, (
        "docs/cli.md is out of date: run .venv/bin/python scripts/gen_cli_docs.py"
    )


def test_cli_reference_has_every_command():
    from qarcade.cli import _COMMANDS

    text = load_generator().cli_reference()
    for name, *_ in _COMMANDS:
        assert f"\n## qarcade {name}\n" in text
        assert f"usage: qarcade {name} [-h]" in text


def documented_commands(text: str) -> list[str]:
    """Every `qarcade ...` command line inside the fenced code blocks of a markdown text."""
    blocks = re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S)
    lines = [line.strip().removeprefix("$ ") for block in blocks for line in block.splitlines()]
    return [line for line in lines if line.startswith("qarcade ")]


def test_the_guides_and_the_readme_tour_use_real_flags():
    import shlex

    from qarcade.cli import build_parser

    readme_top = (ROOT / "README.md").read_text().split("## The lab's MDP", 1)[0]
    texts = [readme_top] + [path.read_text() for path in sorted(ROOT.glob("docs/guide-*.md"))]
    commands = [line for text in texts for line in documented_commands(text)]
    assert len(commands) > 20
    parser = build_parser()
    for line in commands:
        line = line.replace("$algo", "dqn").replace("$seed", "0").replace("[", "").replace("]", "")
        words = ["runs/x" if "..." in w else w for w in shlex.split(line, comments=True)[1:]]
        try:
            parser.parse_args(words)
        except SystemExit:
            pytest.fail(f"documented command does not parse: {line}")


def test_the_guides_link_to_files_and_headings_that_exist():
    readme_top = (ROOT / "README.md").read_text().split("## The lab's MDP", 1)[0]
    pages = [(ROOT / "README.md", readme_top)]
    pages += [(path, path.read_text()) for path in sorted(ROOT.glob("docs/guide-*.md"))]
    notebook = json.loads((ROOT / "notebooks" / "lab.ipynb").read_text())
    markdown = ["".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "markdown"]
    pages.append((ROOT / "notebooks" / "lab.ipynb", "\n".join(markdown)))
    checked = 0
    for page, text in pages:
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if target.startswith(("http://", "https://")):
                continue
            path, _, anchor = target.partition("#")
            file = (page.parent / path).resolve() if path else page
            assert file.exists(), f"{page.name} links to a missing {target}"
            if anchor and file.suffix == ".md":
                headings = re.findall(r"^#+ (.+)$", file.read_text(), flags=re.M)
                slugs = {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}
                assert anchor in slugs, f"{page.name} links to a missing heading {target}"
            checked += 1
    assert checked > 20

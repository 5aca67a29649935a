"""The outputs and pictures shown in README.md and the guides are what the commands print and draw:
every marked block is what scripts/gen_docs.py recorded, the cheap commands print today what was
recorded, and the recorded demo is the Makefile's, trained with the config the code builds now.
When one of these fails, run `.venv/bin/python scripts/gen_docs.py`."""

import importlib.util
import json
import re
from pathlib import Path

import pytest

from qarcade.cli import main

ROOT = Path(__file__).resolve().parent.parent
RERUN = "run .venv/bin/python scripts/gen_docs.py"


def load_generator():
    spec = importlib.util.spec_from_file_location("gen_docs", ROOT / "scripts/gen_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gen = load_generator()
RECORD = json.loads(gen.TRANSCRIPTS.read_text())


def test_every_block_is_what_the_record_makes_of_it():
    blocks = 0
    for page in gen.PAGES:
        text = (ROOT / page).read_text()
        assert gen.render_page(text, RECORD) == text, f"{page} is out of date: {RERUN}"
        blocks += len(gen.BLOCK.findall(text))
    assert blocks >= 9
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    marked = {p.relative_to(ROOT).as_posix() for p in pages if gen.BLOCK.search(p.read_text())}
    assert marked == set(gen.PAGES), "a page with blocks that the script does not rewrite"


@pytest.mark.parametrize("name", sorted(gen.CHEAP))
def test_the_cheap_commands_print_what_is_shown(name, tmp_path, monkeypatch, capsys):
    recorded = RECORD["commands"][name]
    assert recorded["command"] == gen.CHEAP[name], f"the record is of another command: {RERUN}"
    monkeypatch.chdir(tmp_path)
    assert main(gen.CHEAP[name].split()[1:]) == 0
    assert capsys.readouterr().out == recorded["output"], f"`{recorded['command']}`: {RERUN}"


def test_the_recorded_demo_is_the_makefiles_with_todays_config():
    demo = gen.demo_command()
    assert RECORD["demo"] == demo, f"make demo runs `{demo}` now: {RERUN}"
    train = gen.demo_commands(demo)["train"]
    assert RECORD["commands"]["train"]["command"] == train
    assert gen.resolved_config(train) == RECORD["config"], f"the demo's config changed: {RERUN}"
    for name, command in gen.demo_commands(demo).items():
        assert RECORD["commands"][name]["command"] == command, name


def test_the_recorded_outputs_agree_with_each_other_and_the_pictures_exist():
    commands = RECORD["commands"]
    train, facts = commands["train"]["output"], RECORD["facts"]
    assert f"run directory: {gen.DEMO_RUN}\n" in train
    assert f"greedy evaluation over {facts['final_eval_episodes']} episodes" in train
    assert f"mean {facts['final_eval_mean']:.2f}" in train
    if facts["goal_step"] is not None:
        assert f"reached at step {facts['goal_step']:,}," in train
    reward = re.search(r"mean (-?[\d.]+), std 0.00", commands["eval"]["output"]).group(1)
    assert f"video: agent.gif (reward {float(reward):g})" in commands["eval"]["output"]
    for picture in gen.PICTURES.values():
        assert (gen.IMAGES / picture).stat().st_size > 1000, picture


def test_the_makefiles_demo_command_is_read_as_make_runs_it(tmp_path):
    makefile = tmp_path / "Makefile"
    recipe = "\t$(BIN)/qarcade train gridworld --algo d3qn --preset fast\n"
    makefile.write_text("x: y\n\techo\n\ndemo: $(STAMP)\n" + recipe)
    assert gen.demo_command(makefile) == "qarcade train gridworld --algo d3qn --preset fast"
    command = "qarcade train gridworld --algo d3qn --out runs/d3qn"
    changed = gen.with_flag(gen.with_flag(command, "--algo", "dqn"), "--seed", "1")
    assert changed == "qarcade train gridworld --algo dqn --out runs/d3qn --seed 1"

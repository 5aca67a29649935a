# `make demo` runs the main job, `make test` runs the tests; each sets up .venv itself.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint format clean

# (Re)build the venv when it is missing or older than the files that define it.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -c constraints.txt -e '.[dev,sweep]'
	touch $(STAMP)

# Train D3QN on the gridworld until its greedy play scores 24 with no episode stuck in a loop
# (the fast preset; the lab's goal of 15 is noted on the way; under a minute on 2 CPU cores);
# it prints where the run directory, learning curve and video are. The lab's MDP: qarcade mdp.
demo: $(STAMP)
	$(BIN)/qarcade train gridworld --algo d3qn

test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks scripts notebooks examples
	$(BIN)/ruff format --check src tests benchmarks scripts notebooks examples
	$(BIN)/pytest

format: $(STAMP)
	$(BIN)/ruff check --fix src tests benchmarks scripts notebooks examples
	$(BIN)/ruff format src tests benchmarks scripts notebooks examples

clean:
	rm -rf $(VENV) runs .pytest_cache

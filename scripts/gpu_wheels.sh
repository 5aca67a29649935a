#!/usr/bin/env bash
# Wheels for a GPU machine that has its own Python 3.12 with CUDA torch, numpy, pandas,
# matplotlib, tensorboard, tqdm and imageio, but no package index: gymnasium, ale-py (the Atari
# ROMs inside), psutil and gymnasium's small dependencies, downloaded here into .whl/ (git
# ignores it). benchmarks/bench_gpu.sh and benchmarks/gpu_score_bg.sh install them to /tmp/site;
# the device tool carries the folder when asked (carry: [".whl"]).
#
#     bash scripts/gpu_wheels.sh [PYTHON_VERSION]      # default 3.12
set -euo pipefail
VERSION=${1:-3.12}
PIP=${PIP:-.venv/bin/pip}
mkdir -p .whl
"$PIP" download -q --no-deps --only-binary=:all: --python-version "$VERSION" --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d .whl \
    gymnasium==1.4.0 "ale-py==0.12.*" psutil farama-notifications cloudpickle typing-extensions
ls .whl

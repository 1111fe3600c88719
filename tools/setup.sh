#!/usr/bin/env bash
# Set up spine_nb on a machine that has only Python 3.10+: a virtualenv in .venv (or the one already active),
# PyTorch, and spine_nb with its test extras. Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${VIRTUAL_ENV:-}" ]; then PY=python
else
  [ -x .venv/bin/python ] || "${PYTHON:-python3}" -m venv .venv
  PY=.venv/bin/python
fi
pipq() { "$PY" -m pip install -q --disable-pip-version-check "$@" 2>&1 | grep -v "^WARNING: Location" || true; }
if ! "$PY" -c "import torch" 2>/dev/null; then
  if command -v nvidia-smi >/dev/null 2>&1; then
    pipq torch                                   # a GPU machine: PyPI's default (CUDA) build
  else
    # no GPU: the CPU wheel (pip finds torch 2.13.0 on the project's CI machines); else PyTorch's CPU index
    pipq "torch==2.13.0" && "$PY" -c "import torch" 2>/dev/null \
      || pipq torch --index-url https://download.pytorch.org/whl/cpu
  fi
fi
"$PY" -c "import torch" 2>/dev/null || { echo "tools/setup.sh: could not install torch" >&2; exit 1; }
pipq -e ".[dev]"
"$PY" -c "import spine_nb, torch, monai; print(f'spine_nb {spine_nb.__version__} ready: torch {torch.__version__}, monai {monai.__version__}')"

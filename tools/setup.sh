#!/usr/bin/env bash
# Set up spine_nb on a machine that has only Python 3.10+: a virtualenv in .venv, PyTorch, and spine_nb with its test
# extras. Always .venv, even inside another active environment (the README's commands call .venv/bin/...). Safe to
# run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  # an active virtualenv's python makes a venv of its own interpreter; outside one, python3 (or $PYTHON)
  "${PYTHON:-python3}" -m venv .venv
fi
PY=.venv/bin/python
unset VIRTUAL_ENV PYTHONHOME
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
# spine_nb and its dependencies: again only when settings.ini or setup.py changed since the last set-up here
stamp=.venv/.spine_nb-setup
want=$(cat settings.ini setup.py | "$PY" -c "import hashlib, sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())")
installed() { "$PY" -c "import importlib.metadata as m; m.version('spine_nb')" 2>/dev/null; }   # not the folder
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] || ! installed; then
  pipq -e ".[dev]"
  installed && echo "$want" > "$stamp"
fi
"$PY" -c "import spine_nb, torch, monai; print(f'spine_nb {spine_nb.__version__} ready: torch {torch.__version__}, monai {monai.__version__}')"

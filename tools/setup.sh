#!/usr/bin/env bash
# Set up spine_nb on a machine that has only Python 3.10+: a virtualenv in .venv, PyTorch, and spine_nb with its
# extras dev (the tests) and nnunet (the nnU-Net baseline, 14_nnunet). Always .venv, even inside another active
# environment (the README's commands call .venv/bin/...). Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  # an active virtualenv's python makes a venv of its own interpreter; outside one, python3 (or $PYTHON)
  "${PYTHON:-python3}" -m venv .venv
fi
PY=.venv/bin/python
unset VIRTUAL_ENV PYTHONHOME
pipq() { "$PY" -m pip install -q --disable-pip-version-check "$@" 2>&1 | grep -v "^WARNING: Location" || true; }
# PyTorch with torchvision (the nnU-Net extra needs it, through timm): both from one build
if ! "$PY" -c "import torch, torchvision" 2>/dev/null; then
  if command -v nvidia-smi >/dev/null 2>&1; then
    pipq torch torchvision                       # a GPU machine: PyPI's default (CUDA) build
  else
    # no GPU: torch 2.14.1 with its torchvision (pip finds both on the project's CI machines; PyPI's torchvision does
    # not load beside the local CPU-only torch 2.13.0 file); else PyTorch's CPU index
    pipq "torch==2.14.1" "torchvision==0.29.1" && "$PY" -c "import torch, torchvision" 2>/dev/null \
      || pipq torch torchvision --index-url https://download.pytorch.org/whl/cpu
  fi
fi
if ! "$PY" -c "import torch, torchvision" 2>/dev/null; then
  echo "tools/setup.sh: could not install torch and torchvision" >&2
  exit 1
fi
# spine_nb and its dependencies: again only when settings.ini or setup.py changed since the last set-up here
stamp=.venv/.spine_nb-setup
want=$(cat settings.ini setup.py | "$PY" -c "import hashlib, sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())")
installed() { "$PY" -c "import importlib.metadata as m; m.version('spine_nb')" 2>/dev/null; }   # not the folder
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] || ! installed; then
  pipq -e ".[dev,nnunet]"                        # the README's test command covers the nnU-Net baseline
  installed && echo "$want" > "$stamp"
fi
"$PY" -c "import spine_nb, torch, monai, importlib.metadata as m
print(f'spine_nb {spine_nb.__version__} ready: torch {torch.__version__}, monai {monai.__version__}, '
      f'nnunetv2 {m.version(\"nnunetv2\")}')"

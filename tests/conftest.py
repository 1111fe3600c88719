import os, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent   # the venv's scripts (nbdev_test, spine_nb, papermill)

@pytest.fixture(scope="session")
def tiny_phantom(tmp_path_factory):
    "A tiny phantom dataset (12 cases), written once per test session."
    from spine_nb.phantom import make_phantom
    return make_phantom(tmp_path_factory.mktemp("phantom")/"p", cases=12, seed=0, size="tiny", progress=False)

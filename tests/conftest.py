import os, shutil, sys, tempfile
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent   # the venv's scripts (nbdev_test, spine_nb, papermill)

@pytest.fixture(scope="session")
def tiny_phantom(tmp_path_factory):
    "A tiny phantom dataset (12 cases), written once per test session."
    from spine_nb.phantom import make_phantom
    return make_phantom(tmp_path_factory.mktemp("phantom")/"p", cases=12, seed=0, size="tiny", progress=False)

@pytest.fixture(scope="session", autouse=True)
def temp_folder_of_the_session(tmp_path_factory):
    """What the tests, and the notebooks, kernels and workers they start, write to a temporary folder lands in one
    folder of this session, removed at its end: a CI run leaves nothing in /tmp (each run used to leave gigabytes)."""
    tmp = tmp_path_factory.mktemp("tmpdir")
    before = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = str(tmp)
    tempfile.tempdir = None                           # gettempdir() reads TMPDIR again
    yield tmp
    if before is None: os.environ.pop("TMPDIR")
    else: os.environ["TMPDIR"] = before
    tempfile.tempdir = None
    shutil.rmtree(tmp, ignore_errors=True)

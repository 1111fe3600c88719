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

# Two test workers on two cores (pytest.ini: -n 2): each worker, and the kernels, sweeps and nnU-Net commands it starts,
# computes on one thread, so that the two workers do not ask for four cores.
if os.environ.get("PYTEST_XDIST_WORKER"):
    for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"): os.environ[_var] = "1"

# Each test file runs on one worker (pytest.ini: --dist loadfile), so a file's shared trained fixture is made once
# (xdist 3.8's --dist loadgroup did not group under pytest 9 here: the nnU-Net fixture trained on both workers). The
# longest files go first, so that no worker waits for one of them at the end.
LONGEST = ["test_notebooks", "test_nnunet", "test_sweep", "test_reliability", "test_fast", "test_train", "test_predict"]

def _module(item) -> str: return item.module.__name__.rsplit(".", 1)[-1]

def pytest_collection_modifyitems(config, items):
    items.sort(key=lambda item: LONGEST.index(_module(item)) if _module(item) in LONGEST else len(LONGEST))

import os, shutil, sys, tempfile
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent   # the venv's scripts (nbdev_test, spine_nb, papermill)

# The README's command runs two pytest-xdist workers (pytest.ini): one torch thread each (set before torch is imported,
# so the kernels, workers and notebooks they start inherit it), the tests of a file that share a trained module fixture
# on one worker, the others spread one by one, the longest files first so that both workers end at about the same
# time. `pytest -n 0` runs everything in one process as before.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")
SHARED_FIXTURE_FILES = ("test_sweep.py", "test_nnunet.py", "test_reliability.py", "test_train.py", "test_slurm.py",
                        "test_analysis.py", "test_predict.py")
LONGEST_FIRST = ("test_readme.py",) + SHARED_FIXTURE_FILES + ("test_extensions.py", "test_fast.py", "test_package.py",
                                                             "test_browser.py", "test_bench.py", "test_notebooks.py")

def pytest_collection_modifyitems(config, items):
    "Longest files first (the scheduler keeps this order: `--no-loadscope-reorder`)."
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))

def pytest_xdist_make_scheduler(config, log):
    """xdist's `loadscope` with one unit per file of `SHARED_FIXTURE_FILES` and one per test elsewhere (its
    `xdist_group` marks do not group under pytest 9: the node ids they rewrite are no longer read back)."""
    from xdist.scheduler import LoadScopeScheduling
    class ByFixtureFile(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::")[0]
            return path if Path(path).name in SHARED_FIXTURE_FILES else nodeid
    return ByFixtureFile(config, log)

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

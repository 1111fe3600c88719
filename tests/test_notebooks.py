"Every notebook in nbs/ runs top to bottom (nbdev_test), and the library is what the notebooks export."
import filecmp, shutil, subprocess, sys
from pathlib import Path
import pytest
from conftest import ROOT, BIN

NBS = sorted(p.name for p in (ROOT/"nbs").glob("*.ipynb"))

@pytest.fixture(scope="module")
def forks(tmp_path_factory):
    "One process that has imported torch, MONAI and spine_nb, forking one child per notebook (tests/notebook_forks.py)."
    logs = tmp_path_factory.mktemp("notebook_logs")
    proc = subprocess.Popen([sys.executable, "-u", str(ROOT/"tests"/"notebook_forks.py"), str(logs)], cwd=ROOT/"nbs",
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "READY", "the notebook runner did not start"
    yield proc, logs
    proc.stdin.close()
    proc.wait(timeout=60)

@pytest.mark.parametrize("nb", NBS)
def test_notebook_runs(nb, forks):
    "The notebook top to bottom as nbdev_test runs it (its test flags skipped), in a process of its own."
    proc, logs = forks
    proc.stdin.write(f"{ROOT/'nbs'/nb}\n")
    proc.stdin.flush()
    done = proc.stdout.readline().split()
    log = (logs/f"{nb}.log").read_text() if (logs/f"{nb}.log").is_file() else "(no output)"
    assert done[:2] == ["DONE", "0"], f"{nb} failed under nbdev's test_nb ({' '.join(done) or 'runner died'}):\n{log[-6000:]}"

def test_library_matches_notebooks(tmp_path):
    "nbdev_export of nbs/ reproduces spine_nb/*.py exactly: nobody edited the library by hand."
    for f in ("settings.ini", "setup.py"): shutil.copy(ROOT/f, tmp_path/f)
    shutil.copytree(ROOT/"nbs", tmp_path/"nbs")
    (tmp_path/"spine_nb").mkdir()
    shutil.copy(ROOT/"spine_nb"/"__init__.py", tmp_path/"spine_nb"/"__init__.py")
    r = subprocess.run([str(BIN/"nbdev_export")], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    made = sorted(p.name for p in (tmp_path/"spine_nb").glob("*.py"))
    have = sorted(p.name for p in (ROOT/"spine_nb").glob("*.py"))
    assert made == have
    stale = [f for f in made if not filecmp.cmp(tmp_path/"spine_nb"/f, ROOT/"spine_nb"/f, shallow=False)]
    assert not stale, f"spine_nb/{stale} differ from what nbs/ export: edit the notebooks and run nbdev_export"

def test_readme_is_made_from_index():
    r = subprocess.run([sys.executable, "tools/make_readme.py", "--check"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr

def _docs() -> list:
    "The notebooks committed executed: the list in tools/execute_docs.py."
    import importlib.util
    spec = importlib.util.spec_from_file_location("execute_docs", ROOT/"tools"/"execute_docs.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.DOCS

@pytest.mark.parametrize("nb", _docs())
def test_documentation_notebooks_keep_their_figures(nb):
    "They are read without running them (JupyterLab, the repository page): each shows at least one figure."
    import json
    cells = json.loads((ROOT/"nbs"/f"{nb}.ipynb").read_text())["cells"]
    outputs = [o for c in cells if c["cell_type"] == "code" for o in c.get("outputs", [])]
    assert any("image/png" in o.get("data", {}) for o in outputs), \
        f"nbs/{nb}.ipynb has no figure output: run `python tools/execute_docs.py {nb}`, then nbdev_clean"

def test_notebooks_stay_small():
    size = sum(p.stat().st_size for p in (ROOT/"nbs").glob("*.ipynb"))
    assert size < 8*2**20, f"nbs/ holds {size/2**20:.1f} MiB of notebooks; keep figures small (modest dpi, few images)"

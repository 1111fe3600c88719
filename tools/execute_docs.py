"""Execute the notebooks that are read as documentation (their smoke defaults) and keep their outputs in nbs/.

Cells flagged slow, gpu or browser (settings.ini `tst_flags`) are skipped, as under nbdev_test. Live-widget outputs are
dropped (no widget state is saved, so a reader would see an error instead of the static picture beside it). Run
`nbdev_clean` afterwards; it keeps outputs (`clear_all = False`).
"""
import os, shutil, sys, tempfile, time
from pathlib import Path
import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from spine_nb.core import KERNEL_ARGUMENTS  # noqa: E402  (the kernel's start-up warnings left out, as in every run)
DOCS = ["01_phantom", "06_data", "07_train", "07c_predict", "09_analysis", "10_viewer", "14_nnunet"]
SKIP_FLAGS = ("slow", "gpu", "browser")
WIDGET = "application/vnd.jupyter.widget-view+json"


def flagged(cell) -> bool:
    return any(line.strip().replace(" ", "") in (f"#|{f}" for f in SKIP_FLAGS) for line in cell.source.splitlines()[:3])


def execute(name: str, timeout: int = 900) -> float:
    path = ROOT/"nbs"/f"{name}.ipynb"
    nb = nbformat.read(path, as_version=4)
    skipped = {i: c for i, c in enumerate(nb.cells) if c.cell_type == "code" and flagged(c)}
    run = nbformat.v4.new_notebook(metadata=nb.metadata)
    run.cells = [c for i, c in enumerate(nb.cells) if i not in skipped]
    t0 = time.time()
    scratch = tempfile.mkdtemp(prefix=f"spine_nb_docs_{name}_")   # the kernel's temporary folders: gone afterwards
    before = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = scratch
    try:
        client = NotebookClient(run, timeout=timeout, kernel_name="python3", extra_arguments=KERNEL_ARGUMENTS,
                                resources={"metadata": {"path": str(ROOT/"nbs")}})
        client.execute()
    finally:
        if before is None: os.environ.pop("TMPDIR")
        else: os.environ["TMPDIR"] = before
        shutil.rmtree(scratch, ignore_errors=True)
    done = iter(run.cells)
    for i, cell in enumerate(nb.cells):
        if i in skipped: continue
        out = next(done)
        if cell.cell_type != "code": continue
        for o in out.get("outputs", []):
            if "data" in o: o["data"].pop(WIDGET, None)
        cell["outputs"] = [o for o in out.get("outputs", []) if "data" not in o or o["data"]]
        cell["execution_count"] = out.get("execution_count")
    nbformat.write(nb, path)
    return time.time() - t0


if __name__ == "__main__":
    for name in sys.argv[1:] or DOCS:
        print(f"{name}: executed in {execute(name):.0f} s", flush=True)

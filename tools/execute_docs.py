"""Execute the notebooks that are read as documentation and keep their outputs in nbs/: their smoke defaults, except
where `TRAINED` gives parameters that make the run learn (the committed outputs then show a model that learned, while
nbdev_test still runs the smoke defaults); those are injected after the notebook's `parameters` cell, as papermill does,
and left out of the saved notebook.

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


def demo_learning_run() -> dict:
    "The demo's U-Net budget (`demo.DEMO_LEARN`) on the demo's phantom (made once, under the temporary folder)."
    from spine_nb.demo import DEMO_LEARN, DEMO_PHANTOM, demo_phantom
    data = demo_phantom(Path(tempfile.gettempdir())/"spine_nb_docs_demo", DEMO_PHANTOM["cases"])
    return dict(DEMO_LEARN, data_dir=str(data))


def demo_runs() -> dict:
    "The runs of `spine_nb demo` (made once by that command, in demo/), read back with the demo's `learn_epochs`."
    from spine_nb.demo import demo_learn_epochs
    runs = ROOT/"demo"/"runs"
    if not any(runs.glob("*/metrics.json")):
        raise SystemExit(f"09_analysis reads the demo's runs, and {runs} has none: run `.venv/bin/spine_nb demo` first")
    return dict(runs_dir=str(runs), figures_dir=str(ROOT/"demo"/"figures"), learn_epochs=demo_learn_epochs())


TRAINED = {"07_train": demo_learning_run, "10_viewer": lambda: dict(run_params=demo_learning_run()),
           "09_analysis": demo_runs}
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
    injected = None
    if name in TRAINED:
        at = next(i for i, c in enumerate(run.cells) if "parameters" in c.metadata.get("tags", []))
        injected = nbformat.v4.new_code_cell("\n".join(f"{k} = {v!r}" for k, v in TRAINED[name]().items()))
        run.cells.insert(at + 1, injected)
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
    done = iter(c for c in run.cells if c is not injected)
    for i, cell in enumerate(nb.cells):
        if i in skipped: continue
        out = next(done)
        if cell.cell_type != "code": continue
        for o in out.get("outputs", []):
            if "data" in o: o["data"].pop(WIDGET, None)
        cell["outputs"] = [o for o in out.get("outputs", []) if "data" not in o or o["data"]]
        cell["execution_count"] = out.get("execution_count")
    nb.metadata.pop("widgets", None)         # the client's saved widget state: for the views dropped above
    nbformat.write(nb, path)
    return time.time() - t0


if __name__ == "__main__":
    for name in sys.argv[1:] or DOCS:
        print(f"{name}: executed in {execute(name):.0f} s", flush=True)

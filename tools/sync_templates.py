"""Copy the papermill templates from nbs/ into the package (spine_nb/templates/), outputs cleared.

Run after editing nbs/07_train.ipynb or nbs/09_analysis.ipynb (after nbdev_export); `--check` exits 1 when a copy is
stale (tests/test_package.py runs it).
"""
import json, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from spine_nb.core import TEMPLATES  # noqa: E402  (the one list of templates)


def template_text(notebook: Path) -> str:
    """The notebook as the package ships it: every output, execution count and saved widget state cleared (the state
    of the widgets an execution drew changes with each execution), nothing else changed."""
    nb = json.loads(notebook.read_text())
    nb.get("metadata", {}).pop("widgets", None)
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def main(check: bool = False) -> int:
    stale = []
    for name, source in TEMPLATES.items():
        dest = ROOT/"spine_nb"/"templates"/f"{name}.ipynb"
        text = template_text(ROOT/"nbs"/source)
        if dest.is_file() and dest.read_text() == text: continue
        stale.append(f"{dest.relative_to(ROOT)} (from nbs/{source})")
        if not check:
            dest.parent.mkdir(exist_ok=True)
            dest.write_text(text)
    if stale: print(("stale: " if check else "wrote: ") + ", ".join(stale))
    return 1 if check and stale else 0


if __name__ == "__main__":
    sys.exit(main(check="--check" in sys.argv))

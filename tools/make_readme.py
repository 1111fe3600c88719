"""Make README.md from nbs/index.ipynb (nbdev's own nbdev_readme needs Quarto, which cannot be installed offline).
Markdown cells are copied; code cells become ```python blocks with their text outputs. `--check` fails if stale."""
import json, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def render(nb_path=ROOT/"nbs"/"index.ipynb") -> str:
    nb = json.loads(Path(nb_path).read_text())
    out = []
    for c in nb["cells"]:
        src = "".join(c["source"]).strip()
        if not src or src.startswith("#| hide"): continue
        if c["cell_type"] == "markdown": out.append(src)
        elif c["cell_type"] == "code":
            out.append(f"```python\n{src}\n```")
            for o in c.get("outputs", []):
                text = "".join(o.get("text", "")) or "".join(o.get("data", {}).get("text/plain", ""))
                if text.strip(): out.append(f"```\n{text.rstrip()}\n```")
    return "<!-- made from nbs/index.ipynb by tools/make_readme.py: edit the notebook, not this file -->\n\n" + "\n\n".join(out) + "\n"

if __name__ == "__main__":
    text = render()
    if "--check" in sys.argv:
        if (ROOT/"README.md").read_text() != text: sys.exit("README.md is stale: run python tools/make_readme.py")
    else: (ROOT/"README.md").write_text(text)

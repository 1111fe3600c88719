"""The MaskViewer in a real browser: JupyterLab on 127.0.0.1, Debian's Chromium driven by Playwright.

Needs `/usr/bin/chromium` (Debian: `apt-get install chromium`; another binary via $SPINE_NB_CHROMIUM) and the
`playwright` Python package (in spine_nb's dev extras). `.ci/run` installs both, and under CI (`CI` set) a missing
one fails the test instead of skipping it. Screenshots are kept in tests/artifacts/browser/.
"""
import base64, io, json, os, secrets, shutil, signal, socket, subprocess, time, urllib.request
from pathlib import Path
import numpy as np
import pytest
from conftest import ROOT, BIN

CHROMIUM = os.environ.get("SPINE_NB_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
ARTIFACTS = ROOT/"tests"/"artifacts"/"browser"
WAIT = float(os.environ.get("SPINE_NB_BROWSER_WAIT", 180))   # seconds for the notebook to run and draw
NAMES = ["Disc herniation", "Disc narrowing", "Disc bulging"]

def _need_browser():
    "Skip (or, under CI, fail) with what to install when Chromium or Playwright is missing."
    missing = []
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)): missing.append(f"Chromium at {CHROMIUM} (Debian: apt-get install chromium)")
    try: import playwright.sync_api  # noqa: F401
    except ImportError: missing.append("the playwright package (pip install playwright, or pip install -e '.[dev]')")
    if missing:
        msg = "browser test needs " + " and ".join(missing) + "; .ci/run installs both"
        if os.environ.get("CI"): pytest.fail(msg)
        pytest.skip(msg)

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); return s.getsockname()[1]

def _notebook(path: Path, phantom: Path):
    import nbformat
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_markdown_cell("# MaskViewer on a phantom case (browser test)"),
                nbformat.v4.new_code_cell(
                    "from spine_nb.viewer import MaskViewer\n"
                    f"t = MaskViewer.from_data({str(phantom)!r}, 'disc3')\n"
                    "pred = t.truth.copy(); pred[:, t.anatomy == 202] = False; pred[0, :, 40:60, 40:60] = True   # a made-up prediction\n"
                    "v = MaskViewer(t.image, t.truth, pred, names=t.names, anatomy=t.anatomy, spacing=t.spacing,\n"
                    "               title=t.title.split()[0] + ' vs a made-up prediction', cases=t.cases)\n"
                    "v")]
    nbformat.write(nb, path)

@pytest.fixture
def lab(tmp_path):
    "A JupyterLab server on 127.0.0.1 (free port, random token) serving tmp_path; stopped whatever happens."
    _need_browser()
    from spine_nb.phantom import make_phantom
    phantom = make_phantom(tmp_path/"phantom", cases=3, seed=3, size="small", progress=False)
    _notebook(tmp_path/"viewer.ipynb", phantom)
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(tmp_path/"cfg"), JUPYTER_RUNTIME_DIR=str(tmp_path/"rt"),
               JUPYTERLAB_SETTINGS_DIR=str(tmp_path/"settings"), JUPYTERLAB_WORKSPACES_DIR=str(tmp_path/"ws"), MPLBACKEND="agg")
    log = open(tmp_path/"jupyterlab.log", "w")
    proc = subprocess.Popen([str(BIN/"jupyter-lab"), "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
                             "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={tmp_path}",
                             "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
                             "--LabApp.extension_manager=readonly"] + (["--allow-root"] if os.geteuid() == 0 else []),
                            cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        url, deadline = f"http://127.0.0.1:{port}", time.time() + 90
        while proc.poll() is None and not _up(url, token) and time.time() < deadline: time.sleep(0.5)
        if not _up(url, token):
            pytest.fail(f"JupyterLab did not start on port {port}:\n" + (tmp_path/"jupyterlab.log").read_text()[-3000:])
        yield dict(url=url, token=token, log=tmp_path/"jupyterlab.log")
    finally:
        for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
            if proc.poll() is not None: break
            try: os.killpg(proc.pid, sig)
            except ProcessLookupError: break
            try: proc.wait(wait)
            except subprocess.TimeoutExpired: pass
        log.close()

def _up(url, token) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2) as r: return r.status == 200
    except OSError: return False

def _image(page) -> str:
    "The data URL of the viewer's picture (ipywidgets.Image renders a blob URL; read its bytes)."
    return page.evaluate("""async () => {
        const img = document.querySelector('.jp-OutputArea-output img.widget-image');
        const r = await fetch(img.src); const b = new Uint8Array(await r.arrayBuffer());
        let s = ''; for (const x of b) s += String.fromCharCode(x); return btoa(s); }""")

def _pixels(png: bytes) -> np.ndarray:
    from PIL import Image
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), np.int16)

def _changed(page, before: str, timeout: float = 30) -> str:
    t0 = time.time()
    while time.time() - t0 < timeout:
        now = _image(page)
        if now != before: return now
        page.wait_for_timeout(200)
    raise AssertionError("the viewer's image did not change")

def _title(view, expect: str, timeout: float = 30) -> str:
    "The viewer's title (what is drawn, in words), once it holds `expect`."
    t0, title = time.time(), ""
    while time.time() - t0 < timeout:
        title = view.locator(".spine-nb-title").inner_text()
        if expect in title: return title
        time.sleep(0.2)
    raise AssertionError(f"the viewer's title never held {expect!r}: {title!r}")

def _select(view, label: str) -> str:
    "The value the dropdown `label` shows."
    return view.locator(".widget-dropdown").filter(has_text=label).locator("select").input_value()

def test_mask_viewer_in_jupyterlab(lab):
    """The viewer in JupyterLab in Chromium: after each interaction (slider, channel, plane, case) the title of what is
    drawn agrees with the controls, and the picture changed."""
    from playwright.sync_api import sync_playwright
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{lab['url']}/lab/tree/viewer.ipynb?token={lab['token']}", timeout=120_000)
            page.wait_for_function("() => window.jupyterapp && document.querySelector('.jp-Notebook .jp-Cell')", timeout=120_000)
            # wait for the kernel, then run every cell as a person would with Run > Run All Cells
            page.wait_for_function("""() => { const w = window.jupyterapp.shell.currentWidget;
                return w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel
                       && w.sessionContext.session.kernel.status === 'idle'; }""", timeout=120_000)
            page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
            page.wait_for_function("""() => document.querySelector('.jp-OutputArea-output img.widget-image')
                || [...document.querySelectorAll('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')]
                   .some(e => e.innerText.includes('Traceback'))""", timeout=WAIT*1000)
            if page.locator(".jp-OutputArea-output img.widget-image").count() == 0:
                err = page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
                pytest.fail("the notebook failed in the browser:\n" + "\n".join(err.all_inner_texts())[-3000:])
            view = page.locator(".jp-OutputArea-output .widget-vbox").first
            view.locator("img.widget-image").wait_for(state="visible", timeout=WAIT*1000)
            legend = view.locator(".spine-nb-legend")
            legend.wait_for(state="visible", timeout=30_000)
            text = legend.inner_text()
            for name in NAMES + ["true positive", "false positive", "false negative"]:
                assert name in text, f"legend lacks {name!r}: {text!r}"
            shot_before = view.screenshot(path=str(ARTIFACTS/"viewer_before.png"))
            page.screenshot(path=str(ARTIFACTS/"jupyterlab_before.png"))
            img0 = _image(page)
            title0 = _title(view, "sagittal slice")
            assert _select(view, "plane") == "sagittal" and "showing all pathologies" in title0, title0

            # move the slice slider three steps with the keyboard (as a person would after clicking its handle)
            slider = view.locator(".widget-slider").filter(has_text="slice")
            readout0 = slider.locator(".widget-readout").inner_text()
            slider.locator(".noUi-handle").first.focus()
            for _ in range(3): page.keyboard.press("ArrowRight")
            _changed(page, img0)
            readout1 = slider.locator(".widget-readout").inner_text()
            assert int(readout1) == int(readout0) + 3, (readout0, readout1)

            title = _title(view, f"slice {readout1}/")
            assert title.startswith(title0.split()[0]) and "sagittal" in title and _select(view, "plane") == "sagittal"
            img1 = _image(page)         # the third step's picture: the title comes after it

            # untick a pathology
            box = view.locator(".widget-checkbox").filter(has_text=NAMES[1]).locator("input[type=checkbox]")
            box.uncheck()
            img2 = _changed(page, img1)
            title = _title(view, f"showing {NAMES[0]}, {NAMES[2]}")
            assert NAMES[1] not in title and f"slice {readout1}/" in title, title

            # another plane: the title, the slider's range and the dropdown agree
            view.locator(".widget-dropdown").filter(has_text="plane").locator("select").select_option("coronal")
            title = _title(view, "coronal slice")
            readout = slider.locator(".widget-readout").inner_text()
            assert f"coronal slice {readout}/" in title and _select(view, "plane") == "coronal", (title, readout)

            # another case: the case dropdown and the drawn title name the same series
            cases = view.locator(".widget-dropdown").filter(has_text="case").locator("select")
            other = [o for o in cases.locator("option").all_inner_texts() if o != _select(view, "case")][0]
            cases.select_option(other)
            title = _title(view, other)
            assert title.startswith(other) and _select(view, "case") == other and "coronal slice" in title, title
            img3 = _changed(page, img2)
            view.screenshot(path=str(ARTIFACTS/"viewer_other_case.png"))
            view.screenshot(path=str(ARTIFACTS/"viewer_after.png"))
            page.screenshot(path=str(ARTIFACTS/"jupyterlab_after.png"))
        except BaseException:
            try:
                page.screenshot(path=str(ARTIFACTS/"failure.png"))
                (ARTIFACTS/"failure.html").write_text(page.content())
            except Exception: pass
            raise
        finally:
            browser.close()
    # what the browser drew changed: the widget's image, and the screenshot's pixels
    a, b = _pixels(base64.b64decode(img0)), _pixels(base64.b64decode(img2))
    assert a.shape == b.shape and (np.abs(a - b).sum(-1) > 30).mean() > 0.001
    s0, s1 = _pixels(shot_before), _pixels((ARTIFACTS/"viewer_after.png").read_bytes())
    assert s0.shape != s1.shape or (np.abs(s0 - s1).sum(-1) > 30).mean() > 0.001, "screenshots before and after are the same"

"spine_nb as an installed package: the papermill templates ship inside it, and a wheel runs a sweep outside the clone."
import json, os, subprocess, sys, sysconfig
from pathlib import Path
from conftest import ROOT

def test_packaged_templates_match_the_notebooks():
    r = subprocess.run([sys.executable, "tools/sync_templates.py", "--check"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, f"{r.stdout}{r.stderr}: run `python tools/sync_templates.py` after editing the notebooks"

def test_wheel_in_a_fresh_venv_runs_a_tiny_sweep_outside_the_checkout(tiny_phantom, tmp_path):
    "The wheel's only spine_nb; its dependencies come from this venv (a .pth file) so that nothing is downloaded."
    dist = tmp_path/"dist"
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist), str(ROOT)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    wheel = next(dist.glob("spine_nb-*.whl"))
    venv = tmp_path/"venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv/"bin"/"python"
    site = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    (site/"_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")   # torch, monai, papermill, ...
    r = subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps", str(wheel)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    work = tmp_path/"elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(PATH=f"{venv/'bin'}:{env['PATH']}", SPINE_NB_CACHE=str(tmp_path/"cache"))
    where = subprocess.run([str(py), "-c", "import spine_nb; print(spine_nb.__file__)"], cwd=work, env=env,
                           capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(site)), f"spine_nb imported from {where}, not from the wheel"
    cli = str(venv/"bin"/"spine_nb")
    sweep = [cli, "sweep", "--strategy", "multilabel", "--arch", "unet3d", "--loss", "dice", "--set", "pathology_set=disc3",
             "--set", "epochs=1", "--set", "roi=16,64,64", "--set", "batch_size=2", "--set", "val_every=1"]
    r = subprocess.run(sweep + ["--dry-run"], cwd=work, env=env, capture_output=True, text=True)
    assert r.returncode == 0 and "1 runs (preset paper)" in r.stdout, r.stdout + r.stderr
    r = subprocess.run(sweep + ["--data", str(tiny_phantom), "--runs", "runs"], cwd=work, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    (run,) = (work/"runs").glob("multilabel-unet3d-dice-*")
    m = json.loads((run/"metrics.json").read_text())
    assert m["status"] == "finished" and m["channels"] == ["Disc herniation", "Disc narrowing", "Disc bulging"]

"""A fourth strategy and a sixth architecture registered from outside the package (`nbs/extensions/`, found through
$SPINE_NB_PLUGINS and PYTHONPATH) go through a sweep, the analysis and `spine_nb predict` without an edit of spine_nb."""
import json, os, subprocess
import pandas as pd
import pytest
from conftest import ROOT, BIN

EXTENSIONS = ROOT/"nbs"/"extensions"
PLUGINS = "spine_nb_hierarchical,spine_nb_plain_unet"

def run(*args, env: dict, ok: bool = True) -> subprocess.CompletedProcess:
    r = subprocess.run([str(a) for a in args], env=env, capture_output=True, text=True)
    assert (r.returncode == 0) == ok, f"exit {r.returncode}:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r

def test_a_fourth_strategy_and_a_sixth_architecture_from_outside(tiny_phantom, tmp_path):
    pytest.importorskip("dynamic_network_architectures")          # the sixth architecture's network (nnunet extra)
    env = {**os.environ, "PYTHONPATH": str(EXTENSIONS), "SPINE_NB_PLUGINS": PLUGINS,
           "SPINE_NB_CACHE": str(tmp_path/"cache")}
    runs = tmp_path/"runs"
    run(BIN/"spine_nb", "sweep", "--strategy", "hierarchical", "--arch", "plain_unet", "--loss", "dice",
        "--set", "pathology_set=disc3", "--set", "epochs=1", "--set", "roi=16,64,64", "--set", "batch_size=2",
        "--set", "val_every=1", "--data", tiny_phantom, "--runs", runs, env=env)
    (hier,) = runs.glob("hierarchical-plain_unet-dice-*")
    m = json.loads((hier/"metrics.json").read_text())
    assert m["channels"] == ["Disc herniation", "Disc narrowing", "Disc bulging"]       # decoded to the pathologies
    assert m["cost"]["parameters"] > 0 and len(m["per_volume"]) == 2
    run(BIN/"papermill", ROOT/"nbs"/"09_analysis.ipynb", tmp_path/"analysis.ipynb", "--cwd", ROOT/"nbs",
        "--log-level", "ERROR", "-p", "runs_dir", runs, "-p", "figures_dir", tmp_path/"fig", "-p", "n_boot", "20",
        env=env)
    res = pd.read_csv(runs/"results.csv")
    rows = res[res.metric == "macro_dsc"]
    assert list(zip(rows.strategy, rows.arch)) == [("hierarchical", "plain_unet")]
    scan = tiny_phantom/"images"/f"{m['split']['test'][0]}.mha"
    run(BIN/"spine_nb", "predict", hier, scan, "--out", tmp_path/"pred", env=env)
    assert (tmp_path/"pred"/scan.stem/"predict.json").is_file()
    bare = {k: v for k, v in env.items() if k != "SPINE_NB_PLUGINS"}                   # the plugin not named
    r = run(BIN/"spine_nb", "predict", hier, scan, "--out", tmp_path/"pred2", env=bare, ok=False)
    assert "unknown strategy 'hierarchical'" in r.stderr, r.stderr

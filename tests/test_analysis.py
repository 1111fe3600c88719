"The analysis: the binary merge is the stack of the n binary predictions, scored like the others; the notebook runs via papermill."
import json, os, subprocess
import numpy as np, pandas as pd, pytest
from conftest import ROOT, BIN

@pytest.fixture(scope="module")
def runs(tiny_phantom, tmp_path_factory):
    "A multi-label run and a complete binary group (3 runs) on the `disc3` set, trained in-process for 2 epochs."
    from spine_nb.sweep import grid

    from spine_nb.train import run_pipeline
    d = tmp_path_factory.mktemp("analysis"); os.environ["SPINE_NB_CACHE"] = str(d/"cache")
    g = grid("paper", strategies=["multilabel", "binary"], archs=["unet3d"], losses=["dicefocal"], pathology_set="disc3",
             epochs=2, lr=3e-3, roi=[16, 64, 64], batch_size=4, val_every=1)
    assert len(g) == 4
    for r in g: run_pipeline(**{k: v for k, v in r.items() if k != "run_id"}, data_dir=str(tiny_phantom), out_dir=str(d/"runs"/r["run_id"]))
    return d/"runs"

def test_binary_merge_is_the_stack_of_the_n_predictions(runs):
    from spine_nb.analysis import binary_groups, load_runs, merge_binary
    from spine_nb.infer import read_nifti
    from spine_nb.metrics import per_class_dsc
    ms = load_runs(runs)
    groups = list(binary_groups(ms).values())
    assert len(groups) == 1 and [m["config"]["pathology"] for m in groups[0]] == ["Disc herniation", "Disc narrowing", "Disc bulging"]
    merged = merge_binary(groups[0])
    assert merged["channels"] == ["Disc herniation", "Disc narrowing", "Disc bulging"] and merged["cost"]["n_models"] == 3
    assert merged["cost"]["parameters"] == sum(m["cost"]["parameters"] for m in groups[0])
    for i, v in enumerate(merged["per_volume"]):
        stack = np.stack([read_nifti(runs/m["run_dir"].split("/")[-1]/"predictions"/f"{v['series']}_pathology.nii.gz")[0] for m in groups[0]])
        assert stack.shape[0] == 3
        # each channel of the merge scores exactly what that binary run scored on its own (same truth, same region)
        for k, m in enumerate(groups[0]):
            own = m["per_volume"][i]["per_class_dsc"][m["config"]["pathology"]]
            got = v["per_class_dsc"][m["config"]["pathology"]]
            assert (own is None and np.isnan(got)) or np.isclose(own, got), (v["series"], k, own, got)
    # the multi-label run and the merge are scored on the same test volumes and channels
    ml = [m for m in ms if m["config"]["strategy"] == "multilabel"][0]
    assert [v["series"] for v in ml["per_volume"]] == [v["series"] for v in merged["per_volume"]] and ml["channels"] == merged["channels"]

def test_analyze_command(runs, tiny_phantom, tmp_path):
    """`spine_nb analyze`: the analysis template over the runs, its executed copy, figures and the summary in RUNS;
    here on runs moved together with their data, re-pointed with `--data`."""
    import shutil
    from spine_nb.core import SpineError
    from spine_nb.run import Run
    data, moved = tmp_path/"data", tmp_path/"moved"
    shutil.copytree(tiny_phantom, data)
    shutil.copytree(runs, moved, ignore=shutil.ignore_patterns("checkpoints"))
    for f in [*moved.glob("*/metrics.json"), *moved.glob("*/config.json")]:          # their data was elsewhere
        record = json.loads(f.read_text())
        (record.get("config") or record)["data_dir"] = str(tmp_path/"gone")
        f.write_text(json.dumps(record))
    binary = next(moved.glob("binary-*"))
    with pytest.raises(SpineError, match=r"its data folder .*gone is not there \(moved\?\); give where it is now"):
        Run(binary).spider
    assert len(Run(binary, data).spider) == 12
    other = shutil.copytree(data, tmp_path/"other")
    with open(other/"radiological_gradings.csv", "a") as f: f.write("\n")                     # other content
    with pytest.raises(SpineError, match=r"other: not the data .* was trained on"): Run(binary, other).spider
    runs = moved
    r = subprocess.run([str(BIN/"spine_nb"), "analyze", str(runs), "--data", str(data), "--figures",
                        str(tmp_path/"fig"), "--n-boot", "200"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert (runs/"analysis.ipynb").is_file() and "left out" not in r.stdout and "figure4.png" in r.stdout
    res = pd.read_csv(runs/"results.csv")
    assert set(res.strategy) == {"binary", "multilabel"}
    merged = res[(res.strategy == "binary") & (res.pathology == "(merged 3)") & (res.metric == "macro_dsc")]
    assert len(merged) == 1 and merged.n_models.iloc[0] == 3
    assert (res[res.metric == "macro_dsc"].ci_low <= res[res.metric == "macro_dsc"].value + 1e-12).all()
    for f in ("figure4.png", "pathology_dsc.png", "cost.png"): assert (tmp_path/"fig"/f).stat().st_size > 10_000, f
    summary = (runs/"summary.md").read_text()
    assert "Best configuration per strategy" in summary and "**multilabel vs binary, macro dsc**" in summary

def test_analyze_a_folder_without_a_binary_group(runs, tmp_path):
    """A multi-label run, two of three binary runs, a failed run and a folder that is not a run: the analysis runs on
    the multi-label run and lists the others with why; a folder with no finished run is an error naming it."""
    import shutil
    from spine_nb.analysis import analyze_runs
    from spine_nb.core import SpineError
    folder = tmp_path/"runs"
    for d in runs.iterdir():
        config = json.loads((d/"metrics.json").read_text())["config"] if (d/"metrics.json").is_file() else {}
        if config and config.get("pathology") != "Disc herniation": shutil.copytree(d, folder/d.name)
    ml = next(folder.glob("multilabel-*"))
    shutil.copytree(ml, folder/"broken")
    (folder/"broken"/"metrics.json").unlink()
    (folder/"broken"/"status.json").write_text(json.dumps(dict(status="failed", error="RuntimeError: out of memory")))
    (folder/"notes").mkdir()
    out = analyze_runs(folder, n_boot=20)
    assert out["notebook"].is_file() and not (folder/"analysis-failed.ipynb").exists()
    res = pd.read_csv(out["results"])
    assert set(res[~res.group_member].strategy) == {"multilabel"}     # the two binary runs: rows of their own only
    skipped = pd.read_csv(out["skipped"]).set_index("run").reason.to_dict()
    assert skipped["broken"] == "not finished (failed): RuntimeError: out of memory" and len(skipped) == 4, skipped
    assert skipped["notes"] == "not a run folder (no config.json)"
    assert [r for r in skipped.values() if r.startswith("binary group without a finished run of")], skipped
    assert "no complete binary group" in (folder/"analysis.ipynb").read_text()
    (tmp_path/"empty").mkdir()
    with pytest.raises(SpineError, match=r"no finished run .*analysis-failed\.ipynb"): analyze_runs(tmp_path/"empty", n_boot=20)

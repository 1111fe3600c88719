"""nnU-Net v2 for real on a tiny phantom: export (checked against spine_nb's targets), nnU-Net's own commands (plan,
the smoke trainer on the CPU, predict with probabilities), import as run folders, the analysis template over them, and
nnU-Net's evaluator against spine_nb's Dice; and each refusal with its message."""
import json, os, shutil, subprocess
import pandas as pd
import pytest
from conftest import ROOT, BIN

SMOKE = "nnUNetTrainer_spine_nb_smoke"

def needs_nnunet():
    "nnunetv2, or a skip that says how to install it; under CI (which installs the extra) its absence fails."
    try: import nnunetv2  # noqa: F401
    except ImportError:
        if os.environ.get("CI"): pytest.fail("nnunetv2 is not installed: tools/setup.sh installs the nnunet extra")
        pytest.skip("nnunetv2 is not installed: pip install -e '.[nnunet]'")

def cli(*args, ok: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    r = subprocess.run([str(BIN/"spine_nb"), *map(str, args)], capture_output=True, text=True,
                       env={**os.environ, **(env or {})})
    assert (r.returncode == 0) == ok, f"exit {r.returncode}:\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}"
    return r

@pytest.fixture(scope="session")
def nnunet_out(tiny_phantom, tmp_path_factory):
    "The tiny phantom exported (multi-label and multi-class), planned, trained by the smoke trainer and predicted: once."
    needs_nnunet()
    out = tmp_path_factory.mktemp("nnunet")/"nn"
    for strategy in ("multilabel", "multiclass"):
        r = cli("nnunet", "export", tiny_phantom, out, "--strategy", strategy, "--pathology-set", "disc3")
        assert "label maps equal spine_nb's targets on 10 cases" in r.stdout, r.stdout
    # the two datasets side by side, one process each (the 2 cores): nnU-Net keeps each dataset's folders apart
    env = {**os.environ, "nnUNet_def_n_proc": "1"}
    raws = sorted((out/"nnUNet_raw").glob("Dataset*"))
    logs = [out.parent/f"train_{raw.name}.log" for raw in raws]
    trains = [subprocess.Popen([str(BIN/"spine_nb"), "nnunet", "train", str(out), "--trainer", SMOKE, "--dataset-id",
                                raw.name[7:10]], env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT)
              for raw, log in zip(raws, logs)]
    for t, log in zip(trains, logs):
        assert t.wait() == 0, log.read_text()[-4000:]
    return out

def test_export_is_the_runs_split_and_labels(tiny_phantom, tmp_path):
    "Fold 0 is spine_nb's split; label maps equal spine_nb's targets (`check_export`); test images have no labels."
    from spine_nb.data import read_run_spider
    from spine_nb.nnunet import check_export, export_dataset, read_export
    raw = export_dataset(tiny_phantom, tmp_path/"nn", "multilabel", "disc3")
    sp = read_run_spider(tiny_phantom, 42, "random")
    (fold0,) = json.loads((tmp_path/"nn"/"nnUNet_preprocessed"/raw.name/"splits_final.json").read_text())
    assert fold0 == dict(train=list(sp.subset("train").name), val=list(sp.subset("val").name))
    assert sorted(p.name for p in (raw/"imagesTs").iterdir()) == sorted(f"{s}_0000.mha" for s in sp.subset("test").name)
    assert not (raw/"labelsTs").exists() and check_export(raw) == 10
    meta = read_export(raw)
    assert meta["channel_names"] == {"0": "T2"} and meta["file_ending"] == ".mha" and meta["numTraining"] == 10
    assert list(meta["labels"])[1:] == ["Disc herniation", "Disc narrowing", "Disc bulging"]
    assert len(meta["regions_class_order"]) == 3 and meta["spine_nb"]["data_fingerprint"]

def test_export_refusals(tiny_phantom, tmp_path):
    """A dataset id held by another export, the binary strategy, a folder that is not SPIDER: errors that say so
    (in-process: the command line's way of printing an error is checked once, in 11_cli)."""
    from spine_nb.core import SpineError
    from spine_nb.nnunet import export_dataset
    out = tmp_path/"nn"
    export_dataset(tiny_phantom, out, "multilabel", "disc3", dataset_id=42)
    with pytest.raises(SpineError, match="dataset id 42 is in use by another dataset"):
        export_dataset(tiny_phantom, out, "multiclass", "disc3", dataset_id=42)
    other = tmp_path/"other"                                          # the same id from other data: refused too
    shutil.copytree(tiny_phantom, other)
    (other/"radiological_gradings.csv").write_text((other/"radiological_gradings.csv").read_text() + "\n")
    with pytest.raises(SpineError, match="dataset id 42 is in use by another dataset"):
        export_dataset(other, out, "multilabel", "disc3", dataset_id=42)
    with pytest.raises(SpineError, match="no such folder"): export_dataset(tmp_path/"nowhere", out, "multilabel")
    with pytest.raises(SpineError, match="expected multilabel or multiclass"): export_dataset(tiny_phantom, out, "binary")

def test_train_prints_the_commands(tiny_phantom, tmp_path):
    from spine_nb.nnunet import export_dataset
    export_dataset(tiny_phantom, tmp_path/"nn", "multiclass", "disc3")
    r = cli("nnunet", "train", tmp_path/"nn", "--print-only", "--device", "cuda")
    for part in ("nnUNetv2_plan_and_preprocess -d 501", "nnUNetv2_train 501 3d_fullres 0 -tr nnUNetTrainer -device cuda",
                 "--save_probabilities", "export nnUNet_raw=", "export nnUNet_extTrainer="):
        assert part in r.stdout, (part, r.stdout)
    assert not (tmp_path/"nn"/"nnUNet_results").exists()            # printed, nothing run

def test_import_analysis_and_outside_check(nnunet_out, tmp_path):
    """Both trained datasets imported as finished runs (arch nnunet_3d_fullres), nnU-Net's evaluator agreeing with
    spine_nb's DSC on every volume x class; the analysis template puts them in results.csv and Figure 4."""
    runs = tmp_path/"runs"
    r = cli("nnunet", "import", nnunet_out, runs, "--trainer", SMOKE)
    assert r.stdout.count("nnU-Net's evaluator agrees on") == 2, r.stdout
    folders = sorted(runs.glob("*-nnunet_3d_fullres-*"))
    assert [f.name.split("-")[0] for f in folders] == ["multiclass", "multilabel"]
    for f in folders:
        m = json.loads((f/"metrics.json").read_text())
        cfg = json.loads((f/"config.json").read_text())
        assert cfg["arch"].startswith("nnunet") and cfg["framework"] == "nnunetv2" and m["status"] == "finished"
        x = m["external_check"]
        assert x["compared"] > 0 and x["disagreements"] == [] and x["max_abs_difference"] <= 1e-6, x
        assert len(m["per_volume"]) == 2 and m["cost"]["parameters"] > 1e6 and m["eval_region"] == "full volume"
        assert pd.read_csv(f/"history.csv").epoch.tolist() == [1]
    from spine_nb.nnunet import import_nnunet
    again = import_nnunet(nnunet_out, runs, trainer=SMOKE)                      # again: the same folders, kept
    assert sorted(again) == folders and sorted(runs.glob("*-nnunet_3d_fullres-*")) == folders
    r = subprocess.run([str(BIN/"papermill"), str(ROOT/"nbs"/"09_analysis.ipynb"), str(tmp_path/"analysis.ipynb"),
                        "--cwd", str(ROOT/"nbs"), "--log-level", "ERROR", "-p", "runs_dir", str(runs), "-p",
                        "figures_dir", str(tmp_path/"fig"), "-p", "n_boot", "50"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    res = pd.read_csv(runs/"results.csv")
    rows = res[(res.metric == "macro_dsc") & res.arch.str.startswith("nnunet")]
    assert sorted(rows.strategy) == ["multiclass", "multilabel"] and (tmp_path/"fig"/"figure4.png").is_file()

def test_import_refusals(nnunet_out, tmp_path):
    "An unfinished training, predictions of another dataset, missing probabilities: each named, nothing imported."
    from spine_nb.core import SpineError
    from spine_nb.nnunet import import_nnunet
    out = tmp_path/"nn"
    shutil.copytree(nnunet_out, out)
    (ml,) = out.glob("predictions/Dataset501_*/*/fold_0")
    (mc,) = out.glob("predictions/Dataset502_*/*/fold_0")
    shutil.copy(mc/"dataset.json", ml/"dataset.json")
    with pytest.raises(SpineError, match="not the predictions of Dataset501_spine_nb_multilabel_disc3"):
        import_nnunet(out, tmp_path/"runs", 501, trainer=SMOKE)
    next(mc.glob("*.npz")).unlink()
    with pytest.raises(SpineError, match="no probabilities of test cases"):
        import_nnunet(out, tmp_path/"runs", 502, trainer=SMOKE)
    (final,) = out.glob("nnUNet_results/Dataset502_*/*/fold_0/checkpoint_final.pth")
    final.unlink()
    with pytest.raises(SpineError, match=r"the training has not finished \(no checkpoint_final.pth\)"):
        import_nnunet(out, tmp_path/"runs", 502, trainer=SMOKE)
    assert not list((tmp_path/"runs").glob("*/metrics.json"))

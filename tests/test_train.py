"The training notebook through papermill: outputs, resume after a kill, finished runs, refused reuse; checkpoint resume in-process."
import json, os, signal, subprocess, time
import numpy as np, nibabel as nib, pandas as pd, pytest, torch
from conftest import ROOT, BIN

PARAMS = dict(strategy="multilabel", arch="unet3d", loss="dice", epochs=4, roi="16,64,64", batch_size=2, val_every=1)

def papermill(out_nb, out_dir, data_dir, wait=True, **params):
    cmd = [str(BIN/"papermill"), str(ROOT/"nbs"/"07_train.ipynb"), str(out_nb), "--cwd", str(ROOT/"nbs"), "--log-level", "ERROR",
           "-p", "data_dir", str(data_dir), "-p", "out_dir", str(out_dir)]
    for k, v in params.items(): cmd += ["-p", k, str(v)]
    env = dict(os.environ, SPINE_NB_CACHE=str(out_dir.parent/"cache"))
    if not wait: return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    return subprocess.run(cmd, env=env, capture_output=True, text=True)

def scores(run):
    "metrics.json without the timings (which differ between any two runs)."
    m = json.loads((run/"metrics.json").read_text())
    for v in m["per_volume"]: v.pop("inference_seconds")
    m.pop("cost"); m["config"].pop("out_dir"); return m

@pytest.fixture(scope="module")
def reference(tiny_phantom, tmp_path_factory):
    "One uninterrupted tiny multi-label run."
    d = tmp_path_factory.mktemp("train")
    r = papermill(d/"ref.ipynb", d/"ref", tiny_phantom, **PARAMS)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return d/"ref"

def test_papermill_run_writes_metrics_and_predictions(reference, tiny_phantom):
    m = json.loads((reference/"metrics.json").read_text())
    assert m["status"] == "finished" and m["config"]["arch"] == "unet3d" and len(m["channels"]) == 9
    for k in ("macro_dsc", "example_dsc", "per_class_dsc", "per_volume", "diagnosis", "split", "cost"): assert k in m, k
    assert 0 <= m["macro_dsc"] <= 1 and 0 <= m["example_dsc"] <= 1
    assert m["cost"]["parameters"] > 1e6 and m["cost"]["seconds_per_epoch"] > 0 and m["cost"]["epochs_trained"] == 4
    split = pd.read_csv(reference/"split.csv")
    assert sorted(split[split.split == "test"].name) == sorted(m["split"]["test"]) and len(m["per_volume"]) == len(m["split"]["test"])
    hist = pd.read_csv(reference/"history.csv")
    assert list(hist.epoch) == [1, 2, 3, 4] and hist.val_loss.notna().all()
    from spine_nb.train import best_epoch
    assert m["best_epoch"] == best_epoch(hist) == m["selection"]["epoch"]
    assert m["selection"]["criterion"] in ("val_score", "val_loss") and len(m["selection"]["validations"]) == 4
    import SimpleITK as sitk
    for v in m["per_volume"]:
        prob = nib.load(reference/"predictions"/f"{v['series']}_prob.nii.gz"); path = nib.load(reference/"predictions"/f"{v['series']}_pathology.nii.gz")
        img = sitk.ReadImage(str(tiny_phantom/"images"/f"{v['series']}.mha"))
        assert prob.shape[:3] == path.shape[:3] and sorted(prob.shape[:3]) == sorted(img.GetSize()) and prob.shape[3] == 9
        assert prob.get_data_dtype() == np.uint8
        # the decoded masks are the thresholded probabilities (0.5 -> 127.5 on the uint8 scale), inside the evaluated box
        p, q = np.asarray(prob.dataobj), np.asarray(path.dataobj).astype(bool)
        assert np.array_equal(q, p >= 128) or np.mean(q != (p >= 128)) < 1e-4

def _epochs_in(history) -> int:
    try: return len(pd.read_csv(history))
    except (OSError, ValueError): return 0                     # not written yet, or being replaced

def test_resume_after_a_kill_gives_identical_metrics(reference, tiny_phantom, tmp_path):
    """Killed after epoch 3 with `last.pt` (written in the background every `ckpt_every` = 2 epochs) from epoch 2: the
    restart trains epoch 3 again and ends with exactly the uninterrupted run's metrics and weights."""
    out = tmp_path/"killed"
    proc = papermill(tmp_path/"killed.ipynb", out, tiny_phantom, wait=False, **PARAMS, ckpt_every=2)
    t0 = time.time()
    try:
        while time.time() - t0 < 300 and _epochs_in(out/"history.csv") < 3:
            if proc.poll() is not None: pytest.fail(f"the run ended before it could be killed: {proc.stdout.read()[-2000:]}")
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL); proc.wait()
    assert not (out/"metrics.json").exists(), "killed too late: the run had finished"
    saved = torch.load(out/"checkpoints"/"last.pt", weights_only=True)["epoch"]
    assert saved < _epochs_in(out/"history.csv"), "no epoch after the last checkpoint: nothing is trained again"
    r = papermill(tmp_path/"resumed.ipynb", out, tiny_phantom, **PARAMS, ckpt_every=2)
    assert r.returncode == 0, r.stdout[-3000:]
    assert "resume" in (tmp_path/"resumed.ipynb").read_text()
    theirs, ours = scores(reference), scores(out)
    assert ours["config"].pop("ckpt_every") == 2 and theirs["config"].pop("ckpt_every") == 25
    assert ours == theirs
    a, b = pd.read_csv(reference/"history.csv"), pd.read_csv(out/"history.csv")
    assert a.loss.tolist() == b.loss.tolist() and a.val_loss.tolist() == b.val_loss.tolist()
    wa = torch.load(reference/"checkpoints"/"best.pt", weights_only=True)["model"]
    wb = torch.load(out/"checkpoints"/"best.pt", weights_only=True)["model"]
    assert all(torch.equal(wa[k], wb[k]) for k in wa)

def test_finished_run_is_not_retrained_and_another_config_is_refused(reference, tiny_phantom, tmp_path):
    stamps = lambda: {p: p.stat().st_mtime_ns for p in reference.rglob("*") if p.is_file() and p.name != ".lock"}
    before = stamps()                                        # (the lock records who held it last)
    r = papermill(tmp_path/"again.ipynb", reference, tiny_phantom, **PARAMS)
    assert r.returncode == 0 and "finished" in (tmp_path/"again.ipynb").read_text()
    assert stamps() == before
    from spine_nb.core import SpineError
    from spine_nb.train import run_pipeline                 # what the template calls: in-process, one kernel less
    with pytest.raises(SpineError, match=r"holds a run with another configuration \(loss: 'dice' there, 'gdl' now\)"):
        run_pipeline(**dict(PARAMS, loss="gdl"), data_dir=str(tiny_phantom), out_dir=str(reference))
    assert stamps() == before

def test_bad_config_fails_before_any_data_is_read(tmp_path):
    """A refused configuration fails in the template with its message and leaves no run folder (each message of
    `RunConfig` is checked in 05b_config; one kernel here: kernels started side by side can race for a port)."""
    out = tmp_path/"run"
    r = papermill(tmp_path/"bad.ipynb", out, "", **dict(PARAMS, loss="dice_ce"))
    assert r.returncode != 0 and "expected one of ['dice', 'dicefocal', 'gdl']" in r.stdout + r.stderr, r.stdout[-3000:]
    assert not out.exists(), "a refused configuration must not create or touch the run folder"

def test_stop_after_then_resume_in_process(tiny_phantom, tmp_path, monkeypatch):
    "fit() in slices of one epoch ends bit-identical to fit() in one go (CPU): random crops, sliding-window validation, binary."
    monkeypatch.setenv("SPINE_NB_CACHE", str(tmp_path/"cache"))
    from spine_nb.config import RunConfig
    from spine_nb.train import fit
    from spine_nb.data import prepare_data
    kw = dict(data_dir=str(tiny_phantom), strategy="binary", pathology="Disc bulging", epochs=3, roi=(16, 64, 64), crop="random",
              inference="sliding_window", val_every=2)
    cfg = RunConfig(**kw)
    data = prepare_data(cfg)
    h1 = fit(cfg, data, tmp_path/"a", progress=False)
    sliced = RunConfig(**kw, stop_after=1)
    for _ in range(3): h2 = fit(sliced, data, tmp_path/"b", progress=False)
    assert h1.loss.tolist() == h2.loss.tolist() and h1.val_score.equals(h2.val_score) and h1.val_loss.equals(h2.val_loss)
    wa = torch.load(tmp_path/"a"/"checkpoints"/"last.pt", weights_only=True)["model"]
    wb = torch.load(tmp_path/"b"/"checkpoints"/"last.pt", weights_only=True)["model"]
    assert all(torch.equal(wa[k], wb[k]) for k in wa)

"The fast path (12_fast) trains like the plain path: same batches, same loss trajectory on a CPU; resumable."
import json
import numpy as np
import pandas as pd
import pytest
import torch
from spine_nb.core import ConfigError
from spine_nb.train import run_pipeline
from spine_nb.config import RunConfig

def _losses(out):
    return pd.read_csv(out/"history.csv")["loss"].to_numpy()

@pytest.mark.parametrize("strategy", ["multiclass", "binary"])
def test_fast_and_plain_same_loss_trajectory(tiny_phantom, tmp_path, strategy, monkeypatch):
    monkeypatch.setenv("SPINE_NB_CACHE", str(tmp_path/"cache"))
    kw = dict(data_dir=str(tiny_phantom), strategy=strategy, pathology_set="disc3", epochs=3, roi=(16, 64, 64),
              batch_size=3, lr=1e-3, loss="dicefocal", pathology="Disc bulging" if strategy == "binary" else "")
    m = {f: run_pipeline(out_dir=str(tmp_path/f), fast=f, **kw) for f in ("off", "on")}
    plain, fast = _losses(tmp_path/"off"), _losses(tmp_path/"on")
    assert len(plain) == 3 and np.all(np.isfinite(plain))
    np.testing.assert_allclose(fast, plain, rtol=1e-4, atol=1e-6)
    assert abs(m["on"]["macro_dsc"] - m["off"]["macro_dsc"]) < 1e-3 or (np.isnan(m["on"]["macro_dsc"]) and np.isnan(m["off"]["macro_dsc"]))
    assert m["on"]["cost"]["fast_path"] is True and m["off"]["cost"]["fast_path"] is False
    assert m["on"]["cost"]["bf16"] is False                      # amp=auto: no bf16 on a CPU

def test_fast_random_crops_resume_identical(tiny_phantom, tmp_path, monkeypatch):
    "Random crops on the device are seeded per epoch: stopped after each epoch and resumed == one go, bit for bit."
    monkeypatch.setenv("SPINE_NB_CACHE", str(tmp_path/"cache"))
    kw = dict(data_dir=str(tiny_phantom), pathology_set="disc3", epochs=3, roi=(16, 32, 32), crop="random", fast="on", batch_size=2)
    one = run_pipeline(out_dir=str(tmp_path/"one"), **kw)
    for _ in range(3): sliced = run_pipeline(out_dir=str(tmp_path/"sliced"), stop_after=1, **kw)
    assert sliced is not None
    np.testing.assert_array_equal(_losses(tmp_path/"one"), _losses(tmp_path/"sliced"))
    a = torch.load(tmp_path/"one"/"checkpoints"/"best.pt", weights_only=True)["model"]
    b = torch.load(tmp_path/"sliced"/"checkpoints"/"best.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)

def test_fast_flag_is_checked():
    with pytest.raises(ConfigError, match="expected auto, true or false"): RunConfig(fast="turbo")
    with pytest.raises(ConfigError, match="expected auto, true or false"): RunConfig(amp="maybe")
    assert RunConfig(amp="false").amp is False              # papermill passes strings

def _fused_pair(tiny_phantom, tmp_path, arch, roi, **kw):
    "Two binary runs of `arch` trained apart, and the same two trained fused, in float64: their folders."
    from spine_nb.data import prepare_data
    from spine_nb.spider import data_fingerprint
    from spine_nb.train import fit, fit_fused, fused_members
    paths = ["Disc herniation", "Disc bulging"]
    base = dict(dict(data_dir=str(tiny_phantom), strategy="binary", pathology_set="disc3", arch=arch, roi=roi, epochs=2,
                     batch_size=4, lr=1e-3, val_every=1, cache_dir=str(tmp_path/"cache"), fuse_binary=True,
                     data_fingerprint=data_fingerprint(tiny_phantom)), **kw)
    apart, fused = tmp_path/"apart", tmp_path/"fused"
    for p in paths:
        cfg = RunConfig(**base, pathology=p, out_dir=str(apart/p))
        while len(fit(cfg, prepare_data(cfg), cfg.out_dir, progress=False)) < cfg.epochs: pass
    cfg = RunConfig(**base, pathology=paths[0], out_dir=str(fused/paths[0]),
                    fuse_with=json.dumps({paths[1]: str(fused/paths[1])}))
    data = prepare_data(cfg)
    while len(fit_fused(fused_members(cfg, data, cfg.out_dir), progress=False)[0]) < cfg.epochs:
        pass                         # stop_after: sliced sessions, each resumed from the n last.pt files
    return [(apart/p, fused/p) for p in paths]

def _max_difference(a_dir, b_dir) -> float:
    "Largest |difference| of the weights (best.pt, last.pt) and of Adam's moments (last.pt) of two runs."
    d = 0.0
    for f in ("best.pt", "last.pt"):
        a, b = (torch.load(x/"checkpoints"/f, weights_only=True) for x in (a_dir, b_dir))
        assert a["epoch"] == b["epoch"] and a.keys() == b.keys(), f
        d = max(d, max(float((a["model"][k].double() - b["model"][k].double()).abs().max()) for k in a["model"]))
        for i, s in a.get("optimizer", {"state": {}})["state"].items():
            for name, v in s.items(): d = max(d, float((v.double() - b["optimizer"]["state"][i][name].double()).abs().max()))
    return d

# the U-Net, fused and resumed from its last.pt files, is checked the same way in nbs/12_fast.ipynb
@pytest.mark.parametrize("arch, roi, cases, kw", [
    ("vnet", (16, 16, 32), 4, dict(val_every=1, batch_size=2, epochs=1))])  # dropout, batch norm; float64 is slow
def test_fused_binary_training_equals_separate_training_in_float64(tiny_phantom, tmp_path, monkeypatch, arch, roi, cases,
                                                                   kw):
    "`fit_fused` over two binary runs gives each the weights, Adam state and history that `fit` gives it alone."
    from spine_nb.phantom import make_phantom
    monkeypatch.setenv("SPINE_NB_CACHE", str(tmp_path/"cache"))
    data = tiny_phantom if cases == 12 else make_phantom(tmp_path/"p", cases=cases, seed=0, size="tiny", progress=False)
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try: pairs = _fused_pair(data, tmp_path, arch, roi, **kw)
    finally: torch.set_default_dtype(default)
    for apart, fused in pairs:
        assert _max_difference(apart, fused) < 1e-9, (arch, apart.name)
        h_apart, h_fused = (pd.read_csv(d/"history.csv") for d in (apart, fused))
        np.testing.assert_allclose(h_fused[["loss", "val_loss"]], h_apart[["loss", "val_loss"]], rtol=1e-9, atol=1e-12)
        np.testing.assert_array_equal(h_fused.val_score.isna(), h_apart.val_score.isna())
        cfg = json.loads((fused/"config.json").read_text()) if (fused/"config.json").is_file() else None
        if apart.name == "Disc bulging": assert cfg and cfg["pathology"] == "Disc bulging"    # written by fused_members

def test_fused_group_that_diverges_stops_naming_the_run(tmp_path, monkeypatch):
    "A non-finite loss in a fused group stops it with the error `fit` gives, naming that run's folder; nothing is kept."
    from spine_nb.core import SpineError
    from spine_nb.data import prepare_data
    from spine_nb.phantom import make_phantom
    from spine_nb.train import fit_fused, fused_members
    monkeypatch.setenv("SPINE_NB_CACHE", str(tmp_path/"cache"))
    data = make_phantom(tmp_path/"p", cases=4, seed=0, size="tiny", progress=False)
    cfg = RunConfig(data_dir=str(data), strategy="binary", pathology="Disc bulging", pathology_set="disc3",
                    roi=(32, 32, 32), epochs=1, batch_size=1, lr=1e30, fuse_binary=True, out_dir=str(tmp_path/"b"),
                    fuse_with=json.dumps({"Disc herniation": str(tmp_path/"h")}))
    import re
    with pytest.raises(SpineError, match=re.escape(str(tmp_path)) + r"/[bh]: non-finite training loss at epoch 1, batch \d+"):
        fit_fused(fused_members(cfg, prepare_data(cfg), cfg.out_dir), progress=False)
    assert not (tmp_path/"b"/"checkpoints"/"last.pt").exists() and not (tmp_path/"h"/"history.csv").exists()

"The fast path (spine_nb.fast) trains like the plain path: same batches, same loss trajectory on a CPU; resumable."
import json
import numpy as np
import pandas as pd
import pytest
import torch
from spine_nb.core import ConfigError
from spine_nb.infer import run_pipeline
from spine_nb.train import RunConfig

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

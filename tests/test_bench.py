"`spine_nb bench` on a CPU: the smoke test (one architecture), writing the results file and its table."
import json, subprocess
import pytest
from conftest import BIN

def test_bench_cli_cpu_smoke(tmp_path):
    out = tmp_path/"results"
    # one architecture, the cheapest (UNETR took 85 s here): the code is the same for all five and CI's time is short;
    # the GPU bench runs all of them
    r = subprocess.run([str(BIN/"spine_nb"), "bench", "--out", str(out), "--k-arch", "none", "--device", "cpu",
                        "--arch", "unet3d"], capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    js = list(out.glob("cpu-*.json")); assert len(js) == 1
    res = json.loads(js[0].read_text())
    assert "CPU smoke test" in res["label"]
    assert set(res["training"]) == {"unet3d"}
    for arch, t in res["training"].items():
        assert t["naive"]["volumes_per_s"] > 0 and t["fast"]["volumes_per_s"] > 0, arch
        assert 0 <= t["fast"]["data_wait_share"] < 1 and t["flops_per_step"] > 0, arch
        i = res["inference"][arch]
        for p in ("", "sw_"):                       # one window at the ROI, and sliding windows over a whole volume
            assert i[p + "multilabel"] > 0 and i[p + "binary_sequential"] > 0 and i[p + "binary_fused"] > 0, (arch, p)
    assert res["settings"]["sw_shape"] == [20, 64, 96]
    for arch, t in res["training"].items():            # the three baselines beside the fast path, and each A/B switch
        assert all(t[k]["volumes_per_s"] > 0 for k in ("naive", "cached", "cached_amp", "fast")), arch
        assert t["fast_over_cached"] > 0 and t["fast_over_naive"] > 0, arch
        assert set(t["switches"]) == {"channels_last"} and all(v["gain"] > 0 for v in t["switches"].values())
        p = res["run_parts"][arch]
        assert p["validate_seconds_per_volume"] > 0 and p["host_validate_seconds_per_volume"] > 0, arch
        assert p["last_checkpoint_mb"] > p["best_checkpoint_mb"] > 0, arch       # last.pt holds the optimizer too
    f = res["fused_training"]["unet3d"]                  # the n binary models trained one by one and fused
    assert f["n"] == 3 and f["sequential_step_ms"] > 0 and f["fused_step_ms"] > 0 and f["sequential_over_fused"] > 0
    pj = res["projection"]                              # the projection has all its parts, each measured
    assert list(pj["parts_hours"]) == ["training", "validation", "test", "checkpoints", "startup"]
    assert all(v > 0 for v in pj["parts_hours"].values()) and res["startup_seconds"] > 0
    assert abs(sum(pj["parts_hours"].values()) - pj["total_hours"]) < 1e-6*pj["total_hours"]
    md = js[0].with_suffix(".md").read_text()
    # training, switches, parts, inference, fused training, the paper and paper-v2 projections (by part, by strategy)
    assert md.count("| unet3d |") == 9 and "not a real projection" in md and "Projected `paper-v2` grid" in md
    assert "binary training, 3 models" in r.stdout and "| one by one ms / step |" in md
    steps = res["strategy_steps"]["unet3d"]             # each strategy's head: n, m + 1 and 1 channels
    assert steps["multilabel"]["channels"] == 3 and steps["binary"]["channels"] == 1 and steps["multiclass"]["channels"] > 1
    assert all(v["step_ms"] > 0 for v in steps.values()) and "fast step by strategy" in r.stdout
    v2 = res["projection_v2"]
    assert v2["preset"] == "paper-v2" and v2["parts_hours"]["validation"] >= pj["parts_hours"]["validation"] > 0
    assert "(b) cached" in r.stdout and "| startup |" in r.stdout and "channels_last" in r.stdout

def test_bench_bad_arch(tmp_path):
    r = subprocess.run([str(BIN/"spine_nb"), "bench", "--out", str(tmp_path), "--arch", "unet2d"], capture_output=True, text=True)
    assert r.returncode == 2 and "unknown arch 'unet2d'" in r.stderr

def test_bench_keeps_finished_architectures(tmp_path, monkeypatch):
    "A bench that dies on its second architecture leaves the first one's figures on disk, marked partial."
    from spine_nb import bench
    done = []
    def fake_training(arch, *a, **k):
        if done: raise RuntimeError(f"boom in {arch}")
        done.append(arch)
        side = dict(volumes_per_s=2.0, step_ms=500.0, data_wait_share=0.1, peak_memory_mb=None)
        return dict(naive=side, fast=dict(side, volumes_per_s=4.0), speedup=2.0, flops_per_step=10**9, mfu=None)
    ratios = dict(sequential_over_multilabel=3.0, sequential_over_fused=1.5)
    fake_inference = lambda *a, **k: {p + k: v for p in ("", "sw_") for k, v in dict(
        multilabel=0.1, binary_sequential=0.3, binary_fused=0.2, **ratios).items()}
    monkeypatch.setattr(bench, "bench_training", fake_training)
    monkeypatch.setattr(bench, "bench_inference", fake_inference)
    monkeypatch.setattr(bench, "bench_run_parts", lambda *a, **k: dict(validate_seconds_per_volume=0.1,
                        best_checkpoint_seconds=0.1, best_checkpoint_mb=1.0, last_checkpoint_seconds=0.2, last_checkpoint_mb=3.0))
    monkeypatch.setattr(bench, "startup_seconds", lambda: 1.0)
    monkeypatch.setattr(bench, "bench_fused_training", lambda *a, **k: dict(n=3, sequential_step_ms=30.0, fused_step_ms=20.0,
                                                                            sequential_over_fused=1.5))
    with pytest.raises(RuntimeError, match="boom in vnet"):
        bench.run_bench(tmp_path, archs=["unet3d", "vnet"], device="cpu", concurrency_archs=[], log=lambda *a: None)
    js = list(tmp_path.glob("cpu-*.json")); assert len(js) == 1
    res = json.loads(js[0].read_text())
    assert list(res["training"]) == ["unet3d"] and res["complete"] is False and res["projection"] is None
    assert res["training"]["unet3d"]["fast"]["volumes_per_s"] == 4.0
    assert "Partial: the run stopped after unet3d" in js[0].with_suffix(".md").read_text()
    # a second run of the same device and day goes to <device>-<date>-2: the first run's file is kept as it was
    done.clear(); first = js[0].read_text()
    r2 = bench.run_bench(tmp_path, archs=["unet3d"], device="cpu", concurrency_archs=[], log=lambda *a: None)
    assert r2["results_file"] == str(js[0].with_name(js[0].stem + "-2.json")) and js[0].read_text() == first
    assert json.loads(open(r2["results_file"]).read())["complete"] is True

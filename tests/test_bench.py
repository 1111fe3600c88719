"""`spine_nb bench`: a bad architecture, and figures kept when a later architecture fails (the CPU smoke run of the whole
bench, results file and table, is in nbs/13_bench.ipynb)."""
import contextlib, io, json
import pytest

def test_bench_bad_arch(tmp_path):
    from spine_nb.cli import main
    err = io.StringIO()
    with contextlib.redirect_stderr(err), pytest.raises(SystemExit) as e: main(["bench", "--out", str(tmp_path), "--arch", "unet2d"])
    assert e.value.code == 2 and "unknown arch 'unet2d'" in err.getvalue()

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

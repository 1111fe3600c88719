"The sweep: grid size, stable ids, skip/resume, Dask LocalCluster == sequential, a killed worker loses nothing, GPU pinning."
import json, os, signal, subprocess, sys, time
import pytest
from conftest import ROOT, BIN

from spine_nb.sweep import grid, run_id, run_sweep

TINY = dict(epochs=3, roi=[16, 64, 64], batch_size=2, val_every=1, ckpt_every=1)   # last.pt each epoch: killed mid-run

def tiny_grid():
    return grid("paper", strategies=["multilabel", "multiclass", "binary"], archs=["unet3d"], losses=["dice"],
                pathologies=["Disc bulging"], **TINY)

def scores(run_dir):
    m = json.loads((run_dir/"metrics.json").read_text())
    for v in m["per_volume"]: v.pop("inference_seconds")
    m.pop("cost"); m["config"].pop("out_dir"); return m

def test_paper_grid_is_165_runs_for_spider9():
    g = grid("paper")
    assert len(g) == 165 and len({r["run_id"] for r in g}) == 165
    assert sum(r["strategy"] == "binary" for r in g) == 135
    assert all(r["epochs"] == 500 and r["lr"] == 1e-4 and r["batch_size"] == 8 for r in g)

def test_run_ids_are_stable_across_processes():
    g = grid("paper")[:5]
    code = "from spine_nb.sweep import grid; print(' '.join(r['run_id'] for r in grid('paper')[:5]))"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ, PYTHONHASHSEED="123"))
    assert other.stdout.split() == [r["run_id"] for r in g]

def test_dry_run_prints_the_grid():
    r = subprocess.run([str(BIN/"spine_nb"), "sweep", "--preset", "paper", "--dry-run", "--runs", "/nonexistent"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "165 runs" in r.stdout and "multilabel-swin_unetr-gdl-" in r.stdout

@pytest.fixture(scope="module")
def sequential(tiny_phantom, tmp_path_factory):
    "The tiny grid, run by the sequential executor. Dask's nanny starts workers with OMP_NUM_THREADS=1 (its default"
    "`distributed.nanny.pre-spawn-environ`), and CPU float results depend on the thread count: the kernels here get the same."
    d = tmp_path_factory.mktemp("seq"); os.environ["SPINE_NB_CACHE"] = str(d/"cache")
    mp = pytest.MonkeyPatch(); mp.setenv("OMP_NUM_THREADS", "1")
    try: t = run_sweep(tiny_grid(), d/"runs", tiny_phantom, progress=False)
    finally: mp.undo()
    assert t.status.tolist() == ["finished"]*3, t.error.tolist()
    return d/"runs"

def test_second_sweep_skips_finished_and_resumes_unfinished(sequential, tiny_phantom, tmp_path):
    runs = tiny_grid()
    again = run_sweep(runs, sequential, tiny_phantom, progress=False)
    assert again.skipped.all()
    # an unfinished run: copy a finished one, drop its metrics and roll its checkpoint back -> the sweep resumes it
    import shutil, torch
    rid = runs[0]["run_id"]; shutil.copytree(sequential/rid, tmp_path/rid)
    (tmp_path/rid/"metrics.json").unlink(); (tmp_path/rid/"status.json").unlink()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OMP_NUM_THREADS", "1")   # a relative data folder is fine: the sweep hands the notebook absolute paths
        res = run_sweep(runs[:1], tmp_path, os.path.relpath(tiny_phantom), progress=False)
    assert res.status.tolist() == ["finished"] and not res.skipped[0]
    assert "resume" in (tmp_path/rid/"train.ipynb").read_text()
    assert scores(tmp_path/rid) == scores(sequential/rid)

def test_dask_local_cluster_equals_sequential_and_survives_a_killed_worker(sequential, tiny_phantom, tmp_path):
    import psutil
    from distributed import Client, LocalCluster
    runs = tiny_grid(); out = tmp_path/"runs"
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, Client(cluster) as client:
        import threading
        killed = {}
        def killer():
            "Kill the worker process (and its kernel) that runs the first run, once that run has a checkpoint."
            ck = out/runs[0]["run_id"]/"checkpoints"/"last.pt"
            t0 = time.time()
            while time.time() - t0 < 300 and not ck.is_file(): time.sleep(0.05)
            for addr, keys in client.processing().items():
                if any(runs[0]["run_id"] in str(k) for k in keys):
                    pid = client.run(os.getpid, workers=[addr])[addr]
                    p = psutil.Process(pid)
                    for c in p.children(recursive=True): c.kill()
                    p.kill(); killed["pid"] = pid
                    return
        th = threading.Thread(target=killer); th.start()
        table = run_sweep(runs, out, tiny_phantom, executor=client, progress=False)
        th.join()
    assert killed, "no worker was killed (the run finished before the killer saw it)"
    assert table.status.tolist() == ["finished"]*3, table.error.tolist()
    for r in runs: assert scores(out/r["run_id"]) == scores(sequential/r["run_id"]), r["run_id"]

def test_gpus_executor_pins_every_worker_and_its_runs(tiny_phantom, tmp_path):
    """Every worker of the `gpus` executor sees exactly one device, each device gets `per_gpu` workers, and a run on
    them records the device it saw (without GPUs here, through CUDA_VISIBLE_DEVICES)."""
    from spine_nb.sweep import _client
    client, opened = _client("gpus", gpus=["0", "1"], per_gpu=2)
    try:
        seen = client.run(lambda: os.environ.get("CUDA_VISIBLE_DEVICES"))
        runs = grid("paper", strategies=["multilabel"], archs=["unet3d"], losses=["dice"], epochs=1,
                    roi=[16, 64, 64], batch_size=2, val_every=1)
        t = run_sweep(runs, tmp_path/"runs", tiny_phantom, executor=client, extra=dict(device="cpu"), progress=False)
    finally:
        for o in opened: o.close()
    assert sorted(seen.values()) == ["0", "0", "1", "1"], seen
    assert t.status.tolist() == ["finished"], t.error.tolist()
    m = json.loads((tmp_path/"runs"/runs[0]["run_id"]/"metrics.json").read_text())
    assert m["cost"]["cuda_visible_devices"] in {"0", "1"}

def test_fused_binary_group_runs_as_one_task_and_scores_as_apart(sequential, tiny_phantom, tmp_path):
    "`--set fuse_binary=true`: the group trains in its first run's notebook, each run keeps its folder and scores."
    runs = grid("paper", strategies=["binary"], archs=["unet3d"], losses=["dice"],
                pathologies=["Disc bulging", "Disc herniation"], fuse_binary="true", **TINY)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OMP_NUM_THREADS", "1")                     # as the `sequential` fixture's kernels
        t = run_sweep(runs, tmp_path/"runs", tiny_phantom, progress=False)
    assert t.status.tolist() == ["finished"]*2, t.error.tolist()
    first, second = (tmp_path/"runs"/r["run_id"] for r in runs)
    assert "fit_fused" in (first/"train.ipynb").read_text() and "binary x2 fused" in (first/"train.ipynb").read_text()
    assert "binary x2 fused" not in (second/"train.ipynb").read_text()       # trained by the first; scored by itself
    apart = sequential/runs[0]["run_id"]                                      # the same run id, trained alone
    assert apart.is_dir()
    fused_m, apart_m = scores(first), scores(apart)
    # float32: vmap's grouped convolutions round differently, a few voxels flip (float64 equality: tests/test_fast.py)
    assert abs(fused_m["macro_dsc"] - apart_m["macro_dsc"]) < 1e-3
    import numpy as np, pandas as pd
    np.testing.assert_allclose(pd.read_csv(first/"history.csv").loss, pd.read_csv(apart/"history.csv").loss, rtol=1e-4)
    assert json.loads((second/"metrics.json").read_text())["config"]["pathology"] == "Disc herniation"
    again = run_sweep(runs, tmp_path/"runs", tiny_phantom, progress=False)
    assert again.skipped.all()

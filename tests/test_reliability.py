"Nothing lost, nothing mixed, nothing trusted blindly (issue 19): one test per failure a hostile user found."
import configparser, contextlib, errno, io, os, shutil, subprocess, sys
from unittest import mock
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from conftest import BIN, ROOT
from spine_nb.cli import main
from spine_nb.core import SpineError, load_checkpoint, save_checkpoint
from spine_nb.train import run_pipeline
from spine_nb.phantom import make_phantom
from spine_nb.spider import read_case
from spine_nb.sweep import execute_run, grid, grid_table
from spine_nb.config import RunConfig

TINY = ["--strategy", "multilabel", "--arch", "unet3d", "--set", "pathology_set=disc3", "--set", "epochs=1",
        "--set", "roi=16,64,64", "--set", "batch_size=4"]


def spine_nb(*args, **kw):
    return subprocess.run([str(BIN/"spine_nb"), *map(str, args)], capture_output=True, text=True, **kw)


def cli(*args):
    "`spine_nb ...` in-process: exit code and stderr."
    err, code = io.StringIO(), 0
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try: main([str(a) for a in args])
        except SystemExit as e: code = e.code
    return code, err.getvalue()


@pytest.fixture(scope="module")
def two_phantoms(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    return [make_phantom(root/n, cases=12, seed=seed, size="tiny", progress=False) for n, seed in (("a", 0), ("b", 1))]


def test_1_a_sweep_never_reuses_runs_made_on_other_data(two_phantoms, tmp_path):
    """Other data is refused, told by content (one byte of a mask edited in place, same size, too); the same data
    copied to another folder is the same data: its finished run is reused."""
    a, b = two_phantoms
    env = dict(os.environ, SPINE_NB_CACHE=str(tmp_path/"cache"))
    sweep = lambda data: spine_nb("sweep", *TINY, "--loss", "dice", "--data", data, "--runs", tmp_path/"runs", env=env)
    first = sweep(a)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "trained by this sweep: 1" in first.stdout and not list((tmp_path/"runs").glob("*/.train.ipynb*"))
    other = sweep(b)
    assert other.returncode == 2, other.stdout[-2000:]
    assert "holds a run with another configuration (data_fingerprint: " in other.stderr, other.stderr
    from spine_nb.sweep import check_finished                          # what the sweep checks first, in-process
    runs = grid("paper", strategies=["multilabel"], archs=["unet3d"], losses=["dice"], pathology_set="disc3",
                epochs=1, roi="16,64,64", batch_size=4)
    assert (tmp_path/"runs"/runs[0]["run_id"]/"metrics.json").is_file()
    copy = shutil.copytree(a, tmp_path/"copy")
    with mock.patch.dict(os.environ, SPINE_NB_CACHE=str(tmp_path/"cache")):
        check_finished(runs, tmp_path/"runs", str(copy))              # the same data elsewhere: its run is reused
        mask = sorted((copy/"masks").glob("*.mha"))[0]
        raw, stamp = bytearray(mask.read_bytes()), mask.stat().st_mtime_ns
        raw[-1] ^= 1
        mask.write_bytes(bytes(raw))
        os.utime(mask, ns=(stamp + 10**7, stamp + 10**7))             # a later edit: its modification time moves
        with pytest.raises(SpineError, match=r"holds a run with another configuration \(data_fingerprint: "):
            check_finished(runs, tmp_path/"runs", str(copy))


def test_2_two_sweeps_on_one_runs_folder_train_each_run_once(two_phantoms, tmp_path):
    env = dict(os.environ, SPINE_NB_CACHE=str(tmp_path/"cache"))
    cmd = [str(BIN/"spine_nb"), "sweep", *TINY, "--loss", "dice,gdl", "--data", str(two_phantoms[0]),
           "--runs", str(tmp_path/"runs")]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-1500:] for o in outs]
    trained = [int(o[0].split("trained by this sweep: ")[1].split(";")[0]) for o in outs]
    assert sum(trained) == 2, outs                    # dice and gdl: each trained by exactly one of the two
    assert len(list((tmp_path/"runs").glob("*/metrics.json"))) == 2


def test_3_typos_in_parameters_are_errors_with_the_nearest_name(tmp_path):
    code, err = cli("sweep", "--set", "epoch=3", "--dry-run")
    assert code == 2 and "unknown --set key 'epoch' (did you mean 'epochs'?)" in err
    code, err = cli("sweep", "--dry-rn")
    assert code == 2 and "--dry-rn (did you mean --dry-run?)" in err
    import papermill as pm
    from spine_nb.core import template_path
    with pytest.raises(pm.PapermillExecutionError, match=r"unknown papermill parameter 'epoch' \(did you mean"):
        pm.execute_notebook(str(template_path("train")), str(tmp_path/"t.ipynb"), parameters=dict(epoch=3),
                            kernel_name="python3", progress_bar=False, cwd=str(tmp_path))


def test_4_bit_rot_in_a_checkpoint_is_refused(tiny_phantom, tmp_path):
    kw = dict(data_dir=str(tiny_phantom), out_dir=str(tmp_path/"run"), pathology_set="disc3", epochs=2, stop_after=1,
              roi=(16, 64, 64), batch_size=4)
    assert run_pipeline(**kw) is None                                        # stopped after epoch 1
    last = tmp_path/"run"/"checkpoints"/"last.pt"
    raw = bytearray(last.read_bytes())
    middle = len(raw)//2
    raw[middle:middle + 2000] = bytes(b ^ 0xFF for b in raw[middle:middle + 2000])
    last.write_bytes(bytes(raw))
    with pytest.raises(SpineError, match=r"last.pt: checksum mismatch .*delete it to start this run again"):
        run_pipeline(**kw)
    last.with_name("last.pt.sha256").unlink()                              # the sidecar lost too: still refused
    with pytest.raises(SpineError, match=r"last.pt: no last.pt.sha256 beside it.*spine_nb trust-checkpoint"):
        run_pipeline(**kw)


def test_5_a_diverging_run_stops_and_is_not_finished(tiny_phantom, tmp_path):
    with pytest.raises(SpineError, match="lr=inf: expected a finite positive number"): RunConfig(lr=float("inf"))
    with pytest.raises(SpineError, match="lr='fast': expected a finite positive number"): RunConfig(lr="fast")
    with pytest.raises(SpineError, match=r"non-finite training loss at epoch 1, batch \d+ \(lr=1e\+30\)"):
        run_pipeline(data_dir=str(tiny_phantom), out_dir=str(tmp_path/"run"), pathology_set="disc3", epochs=1,
                     roi=(16, 64, 64), batch_size=1, lr=1e30)
    assert not (tmp_path/"run"/"metrics.json").exists()


def test_6_a_full_disk_leaves_no_truncated_file_and_says_where(tmp_path, monkeypatch):
    import torch, papermill as pm
    def full(*a, **k):
        Path(a[1]).write_bytes(b"x"*100)
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(SpineError, match=r"ck.pt: disk full after writing 100 bytes of it \(.* bytes free there\)"):
        save_checkpoint(tmp_path/"ck.pt", w=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == []                  # nothing under a final name, no temp
    monkeypatch.setattr(pm, "execute_notebook", lambda tpl, out, **k: full(None, out))
    run = dict(grid("paper", strategies=["multilabel"], archs=["unet3d"], losses=["dice"])[0])
    res = execute_run(run, tmp_path/"runs")
    assert res["status"] == "failed" and "train.ipynb: disk full" in res["error"]
    assert not (tmp_path/"runs"/run["run_id"]/"train.ipynb").exists()
    import spine_nb.sweep as sweep
    monkeypatch.setattr(sweep, "atomic_write_text", lambda *a, **k: full(None, tmp_path/"s"))
    res = execute_run(run, tmp_path/"runs2")                                  # the status write fails: recorded
    assert res["status"] == "failed" and "status not written" in res["error"]


def test_7_gradings_are_integers_and_one_per_disc(tiny_phantom, tmp_path):
    import shutil, pandas as pd
    data = tmp_path/"p"
    shutil.copytree(tiny_phantom, data)
    g = pd.read_csv(data/"radiological_gradings.csv")
    g["IVD label"] = g["IVD label"].astype(float)
    g.loc[3, "IVD label"] = 1.5
    g.to_csv(data/"radiological_gradings.csv", index=False)
    code, err = cli("sweep", *TINY, "--data", data, "--runs", tmp_path/"runs")
    assert code == 2 and "line 5, column 'IVD label': '1.5' is not an integer" in err
    assert not (tmp_path/"runs").exists()                                    # checked before any run started


def test_8_dependency_floors_load_safely():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT/"settings.ini")
    reqs = dict(r.split(">=", 1) for r in cfg["DEFAULT"]["requirements"].split() if r.startswith(("torch>", "monai>")))
    from packaging.version import Version
    assert Version(reqs["torch"]) >= Version("2.6") and Version(reqs["monai"]) >= Version("1.5.2"), reqs
    import monai, torch
    assert Version(monai.__version__) >= Version(reqs["monai"])
    assert Version(torch.__version__.split("+")[0]) >= Version(reqs["torch"])


def test_9_setup_inside_an_active_virtualenv_still_makes_dot_venv(tmp_path):
    "The README's set-up line with a virtualenv active: `.venv/bin/python` works afterwards, nothing goes elsewhere."
    other = tmp_path/"other-env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(other)], check=True)
    env = dict(os.environ, VIRTUAL_ENV=str(other), PATH=f"{other/'bin'}:{os.environ['PATH']}")
    r = subprocess.run(["bash", "tools/setup.sh"], cwd=ROOT, capture_output=True, text=True, env=env, timeout=900)
    assert r.returncode == 0, r.stdout[-1500:] + r.stderr[-1500:]
    check = subprocess.run([str(ROOT/".venv"/"bin"/"python"), "-c", "import spine_nb, torch, monai"],
                           capture_output=True)
    assert check.returncode == 0 and "spine_nb" in r.stdout
    assert not list((other/"lib").glob("python*/site-packages/spine_nb*")), "installed into the active environment"


def test_smaller_ones(tiny_phantom, tmp_path, monkeypatch):
    code, err = cli("sweep", "--data", tmp_path/"nonexistent", "--runs", tmp_path/"runs", *TINY)
    assert code == 2 and "nonexistent: no such folder" in err and not (tmp_path/"runs").exists()
    import torch
    have = torch.cuda.device_count()
    code, err = cli("sweep", "--data", tiny_phantom, "--runs", tmp_path/"runs", "--gpus", f"{have},{have + 1}", *TINY)
    assert code == 2 and f"no GPU {have}, {have + 1} here ({have} visible)" in err, err   # never the CPU instead
    import spine_nb.sweep
    monkeypatch.setattr(spine_nb.sweep, "SCHEDULER_TIMEOUT", "2s")
    code, err = cli("sweep", "--data", tiny_phantom, "--runs", tmp_path/"runs", "--scheduler", "tcp://127.0.0.1:9", *TINY)
    assert code == 2 and "scheduler tcp://127.0.0.1:9: cannot reach it" in err, err
    assert not list((tmp_path/"runs").glob("*/metrics.json"))
    code, err = cli("demo", "--cases", "2", "--out", tmp_path/"demo")
    assert code == 2 and "cannot split 2 patient(s)" in err and not (tmp_path/"demo").exists()
    code, err = cli("bench", "--roi", "abc", "--out", tmp_path/"b")
    assert code == 2 and "roi='abc': expected three positive integers" in err
    code, err = cli("bench", "--batch", "0", "--out", tmp_path/"b")
    assert code == 2 and "--batch=0: expected an integer >= 1" in err
    table = grid_table(grid("paper", archs=["unet3d"], strategies=["multilabel"], losses=["dice"], roi="16,64,64"))
    assert table.roi.tolist() == ["16,64,64"]
    with pytest.raises(SpineError, match=r"epochs='three': expected an integer >= 1"): RunConfig(epochs="three")
    (tmp_path/"run").mkdir()
    (tmp_path/"run"/"config.json").write_text('{"strategy": "multil')
    with pytest.raises(SpineError, match=r"config.json: unreadable JSON"):
        run_pipeline(data_dir=str(tiny_phantom), out_dir=str(tmp_path/"run"), pathology_set="disc3")
    image, mask = tiny_phantom/"images"/"1_t2.mha", tiny_phantom/"masks"/"1_t2.mha"
    m = sitk.ReadImage(str(mask))
    big = sitk.Cast(m, sitk.sitkUInt16)
    big[0, 0, 0] = 40000
    sitk.WriteImage(big, str(tmp_path/"big.mha"))
    with pytest.raises(SpineError, match=r"big.mha: labels outside 0..255 \(0..40000\)"):
        read_case(image, tmp_path/"big.mha")
    m.SetDirection(tuple(np.array(m.GetDirection())*[1, 1, 1, -1, -1, -1, 1, 1, 1]))
    sitk.WriteImage(m, str(tmp_path/"turned.mha"))
    with pytest.raises(SpineError, match=r"turned.mha: mask direction .* differs from image"):
        read_case(image, tmp_path/"turned.mha")
    old = os.umask(0o022)
    try:
        save_checkpoint(tmp_path/"shared.pt", w=1)
        assert (tmp_path/"shared.pt").stat().st_mode & 0o777 == 0o644
    finally: os.umask(old)
    assert load_checkpoint(tmp_path/"shared.pt")["w"] == 1


def test_demo_keeps_its_own_phantom(tmp_path):
    "A demo folder whose phantom another demo version made is refused, not reused (its runs would not match)."
    (tmp_path/"demo"/"phantom").mkdir(parents=True)
    code, err = cli("demo", "--out", tmp_path/"demo")
    assert code == 2 and "made by another demo" in err and "remove" in err
    assert not (tmp_path/"demo"/"runs").exists()


@pytest.fixture
def small_disk(tmp_path):
    "A 2 MB file system of its own (tmpfs, which needs root, as CI here has): it fills up, and turns read-only."
    if os.geteuid() != 0: pytest.skip("mounting a small tmpfs needs root")
    disk = tmp_path/"disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)], check=True)
    try: yield disk
    finally: subprocess.run(["umount", "-l", str(disk)], check=False)


def test_10_a_real_full_or_read_only_disk_names_the_path(small_disk, tiny_phantom):
    """Torch's own "unexpected pos" on a full disk, the preprocessing cache filling it, and a read-only runs folder
    (sweep and analysis): each message names the file being written and why."""
    import torch
    from spine_nb.analysis import analyze_runs
    from spine_nb.data import load_cases
    from spine_nb.spider import read_spider
    with pytest.raises(SpineError, match=r"checkpoints/last.pt: disk full after writing [\d,]+ bytes of it \(0 bytes "):
        save_checkpoint(small_disk/"run"/"checkpoints"/"last.pt", w=torch.zeros(1_000_000))
    assert list((small_disk/"run"/"checkpoints").iterdir()) == []            # no truncated file, no temporary
    series = read_spider(tiny_phantom, warn=False).series
    with pytest.raises(SpineError, match=r"prep/[0-9a-f]{64}\.pt: disk full after writing"):
        load_cases(series, cache_dir=small_disk/"cache")
    shutil.rmtree(small_disk/"cache")
    (small_disk/"analysis").mkdir()
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    code, err = cli("sweep", *TINY, "--data", tiny_phantom, "--runs", small_disk/"runs")
    assert code == 2 and f"runs/sweep.csv: cannot be written: its folder {small_disk}/runs is on a read-only" in err, err
    with pytest.raises(SpineError, match=r"analysis/analysis.ipynb: cannot be written: .* read-only file system"):
        analyze_runs(small_disk/"analysis")


def test_11_the_training_notebook_takes_the_runs_lock(tiny_phantom, tmp_path):
    "A run trained by hand (the template, `run_pipeline`) while another process holds its folder is refused at once."
    take = f"from spine_nb.core import run_lock\nimport time\nwith run_lock({str(tmp_path/'run')!r}): " \
           "print('held', flush=True); time.sleep(60)"
    other = subprocess.Popen([sys.executable, "-c", take], stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout.readline().strip() == "held"
        with pytest.raises(SpineError, match=r"run: another process is running this run"):
            run_pipeline(data_dir=str(tiny_phantom), out_dir=str(tmp_path/"run"), pathology_set="disc3", epochs=1)
    finally: other.kill()
    assert not (tmp_path/"run"/"config.json").exists()


def test_12_a_run_its_scheduler_lost_is_marked_interrupted_and_cleaned(tmp_path, monkeypatch):
    "A run left `started` by a process that is gone: on the next start its temporaries go, the interruption is kept."
    import json
    import spine_nb.sweep as sweep
    run = dict(grid("paper", strategies=["multilabel"], archs=["unet3d"], losses=["dice"])[0])
    out = tmp_path/"runs"/run["run_id"]
    (out/"checkpoints").mkdir(parents=True)
    (out/"status.json").write_text(json.dumps(dict(status="started", started=5.0, host="node7")))
    (out/".train.ipynb.x1y2.ipynb").write_text("half a log")
    (out/"checkpoints"/".last.pt.a1b2.pt").write_bytes(b"half a checkpoint")
    def finish(template, log, params, cwd, kernel):
        Path(params["out_dir"], "metrics.json").write_text("{}")
        Path(log).write_text("{}")
    monkeypatch.setattr(sweep, "execute_template", finish)
    assert execute_run(run, tmp_path/"runs")["status"] == "finished"
    status = json.loads((out/"status.json").read_text())
    assert [(i["host"], sorted(i["removed"])) for i in status["interrupted"]] == \
        [("node7", [".last.pt.a1b2.pt", ".train.ipynb.x1y2.ipynb"])]
    assert sorted(p.name for p in out.rglob("*")) == [".lock", "checkpoints", "metrics.json", "status.json",
                                                       "train.ipynb"]

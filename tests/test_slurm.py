"""`spine_nb sweep --slurm` on a real one-node SLURM (Debian's munge, slurmctld and slurmd, started here by
`tools/slurm_one_node.sh` as the browser test starts Chromium; `.ci/run` installs them): a tiny sweep submitted, one
job cancelled with `scancel` mid-run, and the sweep completing with every run finished once. Needs root (slurmd);
without SLURM or root the test is skipped, and under CI (`CI` set) it fails instead."""
import json, os, shutil, subprocess, time
from pathlib import Path

import pandas as pd
import pytest

from conftest import BIN, ROOT


def _missing(msg):
    if os.environ.get("CI"): pytest.fail(msg)
    pytest.skip(msg)


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    "A one-node SLURM for this module; its `SLURM_CONF` is set while it runs."
    if not Path("/usr/sbin/slurmctld").exists() or not shutil.which("sbatch"):
        _missing("no SLURM here: apt-get install munge slurmctld slurmd slurm-client")
    if os.geteuid() != 0: _missing("a one-node SLURM needs root (slurmd)")
    state = tmp_path_factory.mktemp("slurm")
    subprocess.run(["bash", str(ROOT/"tools"/"slurm_one_node.sh"), "start", str(state)], check=True, timeout=60)
    os.environ["SLURM_CONF"] = str(state/"slurm.conf")
    try: yield state
    finally:
        subprocess.run(["scancel", "--full", "--user", "root"], check=False)
        subprocess.run(["bash", str(ROOT/"tools"/"slurm_one_node.sh"), "stop", str(state)], check=False)
        os.environ.pop("SLURM_CONF", None)


def _started_with_checkpoint(runs: Path):
    "A run that is training in a SLURM job and has written its first `last.pt`: (run folder, job id), else None."
    for status in runs.glob("*/status.json"):
        try: record = json.loads(status.read_text())
        except (OSError, ValueError): continue
        if record.get("status") == "started" and record.get("slurm_job_id") and \
                (status.parent/"checkpoints"/"last.pt").is_file():
            return status.parent, record["slurm_job_id"]
    return None


def test_a_slurm_sweep_survives_a_cancelled_job(slurm, tiny_phantom, tmp_path):
    runs = tmp_path/"runs"
    sweep = subprocess.Popen(
        [str(BIN/"spine_nb"), "sweep", "--slurm", "--partition", "debug", "--gpus-per-job", "0", "--jobs", "2",
         "--cpus-per-job", "1", "--mem", "2GB", "--time", "00:20:00", "--strategy", "multilabel", "--arch", "unet3d",
         "--loss", "dice,gdl", "--set", "pathology_set=disc3", "--set", "epochs=4", "--set", "roi=16,64,64",
         "--set", "batch_size=4", "--set", "val_every=1", "--set", "ckpt_every=1", "--data", str(tiny_phantom), "--runs", str(runs)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    cut, deadline = None, time.time() + 240
    while cut is None and sweep.poll() is None and time.time() < deadline:
        cut = _started_with_checkpoint(runs)
        time.sleep(0.2)
    assert cut is not None, "no run reached its first checkpoint in a SLURM job"
    run_dir, job = cut
    subprocess.run(["scancel", job], check=True)                                   # the job ends mid-run
    out, _ = sweep.communicate(timeout=300)
    assert sweep.returncode == 0, out[-3000:]
    table = pd.read_csv(runs/"sweep.csv")
    assert table.status.tolist() == ["finished", "finished"], table
    status = json.loads((run_dir/"status.json").read_text())
    assert len(status["interrupted"]) == 1 and status["slurm_job_id"] != job, status     # resumed in another job
    for r in table.run_id:
        epochs = pd.read_csv(runs/r/"history.csv").epoch.tolist()
        assert epochs == [1, 2, 3, 4], (r, epochs)                           # each epoch trained once
    assert (run_dir/"train.ipynb").is_file() and list((runs/"slurm").glob("*.err")), "logs in the runs folder"

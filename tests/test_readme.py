"""Every shell command in the README's code blocks (the README is made from nbs/index.ipynb) runs, in order, on a fresh
copy of the clone: as written, or with smoke-sized parameters where it would train for long (`SMOKE` says which and
why), or it is run by another test (`ELSEWHERE` says which). A command the README gains fails here until it is one of
the three."""
import re, shutil, subprocess
from pathlib import Path
import pytest
from conftest import ROOT

# README command (a regular expression matching it) -> [(what is replaced, by what)], and why
SMOKE = {
    r"^\.venv/bin/papermill nbs/07_train\.ipynb ": ([("-p epochs 10 -p roi 32,128,128", "-p epochs 1 -p roi 16,64,64")],
                                                   "10 epochs at 32x128x128: minutes on a CPU"),
    r"^\.venv/bin/spine_nb sweep --preset paper --data data/SPIDER --runs runs --gpus all$": (
        [("data/SPIDER", "data/phantom"), (" --gpus all", ""),
         ("--runs runs", "--runs runs --strategy multilabel --arch unet3d --loss dice --set pathology_set=disc3 "
                         "--set epochs=1 --set roi=16,64,64 --set val_every=1")],
        "the paper's 165 runs of 500 epochs on SPIDER and GPUs: one multi-label U-Net epoch on the phantom, CPU"),
    r"^\.venv/bin/spine_nb sweep --data demo/phantom --runs seeds ": (
        [("demo/phantom", "data/phantom"), ("--seeds 42,43,44,45,46", "--seeds 42,43 --strategy multilabel"),
         ("--set epochs=50", "--set epochs=1")],
        "5 seeds x 3 strategies x 50 epochs: 2 seeds of the multi-label run, one epoch (the demo's phantom: "
        "the README's own)"),
    r"^\.venv/bin/spine_nb nnunet export data/SPIDER ": (
        [("data/SPIDER", "data/phantom"), (" --strategy", " --pathology-set disc3 --strategy")],
        "SPIDER is not here; the 20-case phantom has no disc with Modic types I or III, which nnU-Net cannot train"),
    r"^\.venv/bin/spine_nb predict runs/<run_id> scans/patient\.nii\.gz ": ([("<run_id>", "{run_id}")],
                                                                         "the run id of the sweep above"),
    r"^\.venv/bin/spine_nb predict runs/<run_id> data/SPIDER/": (
        [("<run_id>", "{run_id}"), ("data/SPIDER", "data/phantom")], "the sweep's run, the phantom for SPIDER"),
}
ELSEWHERE = {
    r"^bash tools/setup\.sh && \.venv/bin/spine_nb demo$": (
        "the demo trains 11 runs (minutes): 11b_demo checks its grid, budgets and phantom; its sweep and analysis "
        "are the commands run here"),
    r"^bash tools/setup\.sh && \.venv/bin/python -m pytest$": "the test command itself (.ci/run runs it)",
    r"--slurm ": "tests/test_slurm.py submits a sweep to a one-node SLURM",
    r"^\.venv/bin/spine_nb nnunet train nnunet --device cuda$": "tests/test_nnunet.py trains nnU-Net through its "
                                                                "commands (on the CPU)",
    r"^\.venv/bin/spine_nb nnunet import ": "needs nnU-Net's trained models: tests/test_nnunet.py imports them",
}

def readme_commands(text: str) -> list:
    "The shell commands of the README's code blocks (continued lines joined, comments dropped); Python blocks left out."
    commands = []
    for lang, body in re.findall(r"```(\w*)\n(.*?)```", text, flags=re.S):
        if lang == "python": continue
        for line in body.replace("\\\n", " ").splitlines():
            line = re.sub(r"\s+#.*$", "", line).strip()
            if line and not line.startswith("#"): commands.append(re.sub(r"\s+", " ", line))
    return commands

def _match(table: dict, command: str):
    return next((v for k, v in table.items() if re.search(k, command)), None)

def test_readme_commands_are_known():
    "Each command is run (as written or smoke-sized) or named as run elsewhere; each table entry still matches one."
    commands = readme_commands((ROOT/"README.md").read_text())
    assert len(commands) >= 15, commands
    for table in (SMOKE, ELSEWHERE):
        stale = [k for k in table if not any(re.search(k, c) for c in commands)]
        assert not stale, f"README commands no longer there: {stale}"

def _fresh_copy(dest: Path) -> Path:
    "The clone's files as git sees them (no data, runs or caches), with its .venv linked in."
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split()
    for f in files:
        if (ROOT/f).is_file():
            (dest/f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT/f, dest/f)
    (dest/".venv").symlink_to(ROOT/".venv")
    return dest

def test_every_readme_command_runs_on_a_fresh_copy(tmp_path):
    repo = _fresh_copy(tmp_path/"clone")
    env = dict(__import__("os").environ, SPINE_NB_CACHE=str(tmp_path/"cache"))
    ran, values = [], {}
    for command in readme_commands((ROOT/"README.md").read_text()):
        if _match(ELSEWHERE, command): continue
        smoke = _match(SMOKE, command)
        if smoke:
            for old, new in smoke[0]:
                assert old in command, (old, command)
                command = command.replace(old, new)
        if "{run_id}" in command:
            values.setdefault("run_id", next(p.name for p in sorted((repo/"runs").iterdir())
                                             if p.name.startswith("multilabel-") and (p/"metrics.json").is_file()))
            command = command.format(**values)
        if "scans/patient.nii.gz" in command and not (repo/"scans").exists():      # a scan in NIfTI, from the phantom
            import SimpleITK as sitk
            (repo/"scans").mkdir()
            sitk.WriteImage(sitk.ReadImage(str(repo/"data/phantom/images/12_t2.mha")), str(repo/"scans/patient.nii.gz"))
        r = subprocess.run(command, shell=True, cwd=repo, env=env, capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, f"{command}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
        ran.append(command)
    assert (repo/"runs/ml_unet3d_dice/metrics.json").is_file() and (repo/"runs/figures").is_dir()
    assert (repo/"seeds/seed_spread.csv").is_file() and list((repo/"predictions").iterdir())
    assert len(ran) >= 11, ran

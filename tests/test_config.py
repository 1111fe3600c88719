"A run's configuration and keys: the run ids of existing runs do not change (ids recorded before the config stage)."
import hashlib, json
from spine_nb.config import RunConfig, key_names
from spine_nb.sweep import grid, run_id

# the sha256 of every run id of the `paper` and `paper-v2` grids, as `spine_nb.sweep.run_id` made them before
# `RunConfig.run_id` existed (commit 19124da); a change here renames every run folder of every existing sweep
IDS_BEFORE = "e8ef43ed1234b2563a01b0131ade27b41308424dcdd27457d8b004418f1cac95"

def test_run_ids_of_existing_runs_are_unchanged():
    ids = {p: [r["run_id"] for r in grid(p)] for p in ("paper", "paper-v2")}
    assert hashlib.sha256(json.dumps(ids).encode()).hexdigest() == IDS_BEFORE
    assert ids["paper"][0] == "binary-unet3d-dice-modic_type_i-3aa0b22eb1"
    assert ids["paper"][50] == "binary-vnet-gdl-spondylolisthesis-a8946bd224"
    assert ids["paper-v2"][7] == "binary-unet3d-dice-disc_narrowing-1cad5617d8"
    small = dict(strategy="multilabel", arch="unet3d", loss="dice", pathology_set="disc3", epochs=50, lr=1e-2,
                 batch_size=2, roi=[16, 96, 64], val_every=5)
    assert run_id(dict(small, split="stratified")) == "multilabel-unet3d-dice-f872c1871a"     # an added key, set
    assert run_id(dict(small, anatomy=True)) == "multilabel-unet3d-dice-b0ec75489e"
    assert run_id(dict(strategy="binary", pathology="Disc bulging", arch="vnet", loss="gdl", pathology_set="disc3",
                       epochs=4, lr=1e-3, batch_size=2, roi=[16, 64, 64],
                       val_every=1)) == "binary-vnet-gdl-disc_bulging-9acd6aef0f"

def test_one_home_for_the_keys():
    "Every key list is derived from RunConfig's field declarations; the id is the config's own method."
    c = RunConfig.from_dict(grid("paper")[0])
    assert c.run_id() == grid("paper")[0]["run_id"]
    assert set(key_names("identity")) == set(c.identity())
    assert set(key_names("run")) - set(key_names("group")) == {"strategy", "pathology"}

"`spine_nb predict` and `spine_nb.predict.level_report`: levels, geometry, formats, binary groups, bad input."
import contextlib, io, json, locale, shutil, subprocess, warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from conftest import BIN
from spine_nb.cli import main
from spine_nb.core import DISC_LEVELS, is_disc
from spine_nb.predict import level_report, levels_from_discs, predict
from spine_nb.train import run_pipeline
from spine_nb.labels import channels, disc_table, pathology_map
from spine_nb.phantom import make_phantom
from spine_nb.spider import GRADING_COLUMNS, Volume, keep_locale, read_spider, read_volume

TINY = dict(pathology_set="disc3", epochs=1, roi=(16, 64, 64), batch_size=4)


@pytest.fixture(scope="module")
def runs(tiny_phantom, tmp_path_factory):
    "A finished multi-label run, a binary group (in one folder) and an unfinished run, on the tiny phantom."
    root = tmp_path_factory.mktemp("runs")
    run_pipeline(**TINY, data_dir=str(tiny_phantom), out_dir=str(root/"ml"))
    for p in channels("disc3"):
        run_pipeline(**TINY, data_dir=str(tiny_phantom), strategy="binary", pathology=p,
                     out_dir=str(root/"binary"/p.split()[1]))
    run_pipeline(**dict(TINY, epochs=2), stop_after=1, data_dir=str(tiny_phantom), out_dir=str(root/"stopped"))
    run_pipeline(**dict(TINY, pathology_set="spider7"), data_dir=str(tiny_phantom), out_dir=str(root/"spider7"))
    return root


def spine_nb(*args, process: bool = False):
    "`spine_nb predict ...` in-process (or as the installed console script): its exit code, stdout and stderr."
    if process: return subprocess.run([str(BIN/"spine_nb"), *map(str, args)], capture_output=True, text=True)
    out, err, code = io.StringIO(), io.StringIO(), 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try: main([str(a) for a in args])
        except SystemExit as e: code = e.code
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def test_level_report_of_the_ground_truth_is_the_gradings_table(tiny_phantom):
    "On every phantom case, probabilities equal to its own pathology map give back the gradings, level by level."
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sp = read_spider(tiny_phantom, seed=0)
    names = channels("spider9")
    table = disc_table(sp.gradings, "spider9")
    for row in sp.series.itertuples():
        mask = read_volume(row.mask).array
        own = pathology_map(mask, table, row.patient).astype(np.float32)
        report = level_report(own, mask, names)
        graded = [d for d in table.xs(row.patient, level=0).index if 200 + d in np.unique(mask)]
        got = report[report.disc.isin(graded)].pivot(index="disc", columns="pathology", values="called")[names]
        expected = table.xs(row.patient, level=0).loc[graded, names]
        pd.testing.assert_frame_equal(got.astype(bool), expected, check_names=False)
        assert list(report.level.unique()) == [DISC_LEVELS[d] for d in sorted(report.disc.unique())]
        assert set(report.columns) == {"level", "disc", "pathology", "called", "coverage", "mean_prob"}


def test_levels_named_on_phantoms_of_5_to_9_discs(tmp_path):
    "The discs found in a (perfect) disc channel are named as their mask labels, for 5 to 9 discs."
    rows = [[k, d] + [0]*7 + [2] for k in range(5, 10) for d in range(1, k + 1)]
    g = pd.DataFrame(rows, columns=GRADING_COLUMNS)
    data = make_phantom(tmp_path/"p", size="tiny", gradings=g, progress=False, seed=3)
    for k, f in zip(range(5, 10), sorted((data/"masks").glob("*.mha"), key=lambda p: int(p.name.split("_")[0]))):
        vol = read_volume(f)
        labels, note = levels_from_discs(is_disc(vol.array), vol)
        assert f"{k} discs found" in note
        np.testing.assert_array_equal(labels[is_disc(vol.array)], vol.array[is_disc(vol.array)])
        report = level_report(is_disc(vol.array)[None].astype(float), labels, ["disc"])
        assert report.level.tolist() == [DISC_LEVELS[d] for d in range(1, k + 1)]
    many = np.zeros((4, 60, 8), bool)
    many[:, 2::5] = True                                        # 12 slabs: more discs than a lumbar scan has
    grid = Volume(many, (4.0, 1.0, 1.0), (0.0, 0.0, 0.0), (1, 0, 0, 0, 1, 0, 0, 0, 1), (0, 1, 2))
    labels, note = levels_from_discs(many, grid)
    assert labels is None and "12 discs" in note


@pytest.mark.parametrize("through_plane", ["last", "first"])
def test_predict_writes_in_the_scans_geometry(runs, tiny_phantom, tmp_path, through_plane):
    "A .mha and a .nii.gz, with a non-identity direction and the through-plane axis last or first in the file."
    img = sitk.ReadImage(str(tiny_phantom/"images"/"1_t2.mha"))           # through-plane axis: the file's x (last)
    if through_plane == "first": img = sitk.PermuteAxes(img, (2, 0, 1))   # now the file's z
    assert img.GetDirection() != (1, 0, 0, 0, 1, 0, 0, 0, 1)
    for suffix in (".mha", ".nii.gz"):
        scan = tmp_path/f"scan{suffix}"
        sitk.WriteImage(img, str(scan))
        r = spine_nb("predict", runs/"ml", scan, "--out", tmp_path/"out", "--device", "cpu",
                     process=suffix == ".mha" and through_plane == "last")     # once through the console script
        assert r.returncode == 0, r.stderr
        out = tmp_path/"out"/"scan"
        for name in ("probs", "masks", "mask_disc_herniation"):
            back = sitk.ReadImage(str(out/f"{name}{suffix}"))
            for f in ("GetSize", "GetSpacing", "GetOrigin", "GetDirection"):
                np.testing.assert_allclose(getattr(back, f)(), getattr(img, f)(), atol=1e-4, err_msg=f"{name}: {f}")
        assert sitk.ReadImage(str(out/f"probs{suffix}")).GetNumberOfComponentsPerPixel() == 3
        rec = json.loads((out/"predict.json").read_text())
        assert rec["run_ids"] == ["ml"] and rec["names"] == channels("disc3") and "monai" in rec["versions"]
        assert "need anatomy" in (out/"report.md").read_text() and (out/"report.png").is_file()
        shutil.rmtree(tmp_path/"out")


def test_predict_binary_group_with_anatomy_and_truth(runs, tiny_phantom, tmp_path):
    "The binary group's folder predicts as one model; --anatomy names the levels and --truth adds the gradings."
    r = spine_nb("predict", runs/"binary", tiny_phantom/"images"/"3_t2.mha", "--out", tmp_path,
                 "--anatomy", tiny_phantom/"masks"/"3_t2.mha", "--truth", tiny_phantom, "--device", "cpu")
    assert r.returncode == 0, r.stderr
    report = pd.read_csv(tmp_path/"3_t2"/"report.csv")
    mask = read_volume(tiny_phantom/"masks"/"3_t2.mha").array
    assert sorted(report.disc.unique()) == sorted(int(v) - 200 for v in np.unique(mask[is_disc(mask)]))
    assert {"graded", "called", "coverage", "mean_prob"} <= set(report.columns) and report.graded.notna().any()
    text = (tmp_path/"3_t2"/"report.md").read_text()
    assert "L5/S1" in text and "Agreement with the radiologist" in text and "(graded" in text
    assert len(json.loads((tmp_path/"3_t2"/"predict.json").read_text())["run_ids"]) == 3


def _refused(tmp_path, *args, expect):
    out = tmp_path/"refused"
    r = spine_nb("predict", *args, "--out", out, "--device", "cpu")
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert expect in r.stderr, r.stderr
    assert not out.exists() or not any(out.rglob("*")), "a refused prediction wrote files"
    return r.stderr


def test_bad_input_is_refused_before_anything_is_written(runs, tiny_phantom, tmp_path):
    scan = tiny_phantom/"images"/"1_t2.mha"
    _refused(tmp_path, runs/"stopped", scan, expect="stopped: the run has not finished")
    _refused(tmp_path, runs/"ml", runs/"spider7", scan, expect="runs of different pathology sets")
    _refused(tmp_path, runs/"binary"/"herniation", runs/"binary"/"bulging", scan, expect="missing ['Disc narrowing']")
    flat = tmp_path/"flat.mha"
    sitk.WriteImage(sitk.Image(32, 32, sitk.sitkInt16), str(flat))
    _refused(tmp_path, runs/"ml", flat, expect="flat.mha: expected a 3D single-channel image, got 2D")
    broken = tmp_path/"broken.mha"
    broken.write_bytes(scan.read_bytes()[:400])
    _refused(tmp_path, runs/"ml", scan, broken, expect="broken.mha: unreadable or truncated image")
    moved = sitk.ReadImage(str(tiny_phantom/"masks"/"1_t2.mha"))
    moved.SetOrigin(tuple(np.array(moved.GetOrigin()) + 5))
    sitk.WriteImage(moved, str(tmp_path/"moved.mha"))
    _refused(tmp_path, runs/"ml", scan, "--anatomy", tmp_path/"moved.mha", expect="moved.mha: anatomy mask origin")
    _refused(tmp_path, runs/"ml", scan, "--tau", "0", expect="tau=0.0: expected a share of the disc in (0, 1]")
    blank = sitk.ReadImage(str(scan)) * 0                              # an all-zero export of the scan
    sitk.WriteImage(blank, str(tmp_path/"blank.mha"))
    _refused(tmp_path, runs/"ml", scan, tmp_path/"blank.mha", expect="blank.mha: every voxel is 0; expected a scan")
    unchecked = shutil.copytree(runs/"ml", tmp_path/"unchecked", ignore=shutil.ignore_patterns("predictions"))
    (unchecked/"checkpoints"/"best.pt.sha256").unlink()                # a checkpoint without its sidecar
    _refused(tmp_path, unchecked, scan, expect="best.pt: no best.pt.sha256 beside it, so it cannot be checked")


def test_a_prediction_is_written_whole_and_never_mixed(runs, tiny_phantom, tmp_path):
    """Into a folder that holds a prediction: refused, or (--overwrite) replaced whole, so no mask of the first run's 7
    pathologies stays beside the second run's 3; an --out that is a file is refused before inference,
    and one another predict is writing into."""
    scan, out = tiny_phantom/"images"/"1_t2.mha", tmp_path/"out"
    assert spine_nb("predict", runs/"spider7", scan, "--out", out, "--device", "cpu").returncode == 0
    first = sorted(p.name for p in (out/"1_t2").iterdir())
    assert len([f for f in first if f.startswith("mask_")]) == len(channels("spider7"))
    r = spine_nb("predict", runs/"ml", scan, "--out", out, "--device", "cpu")
    assert r.returncode == 2 and "1_t2: holds an earlier prediction" in r.stderr, r.stderr
    assert sorted(p.name for p in (out/"1_t2").iterdir()) == first
    r = spine_nb("predict", runs/"ml", scan, "--out", out, "--device", "cpu", "--overwrite")
    assert r.returncode == 0, r.stderr
    masks = [p.name for p in (out/"1_t2").iterdir() if p.name.startswith("mask_")]
    assert len(masks) == 3 and json.loads((out/"1_t2"/"predict.json").read_text())["names"] == channels("disc3")
    assert [p.name for p in out.iterdir() if p.name != ".lock"] == ["1_t2"], "a temporary folder was left"
    (tmp_path/"afile").write_text("x")
    r = spine_nb("predict", runs/"ml", scan, "--out", tmp_path/"afile", "--device", "cpu")
    assert r.returncode == 2 and "afile: a file; expected a folder to write into" in r.stderr, r.stderr
    from spine_nb.core import run_lock
    with run_lock(tmp_path/"busy"):                                     # another predict writing into --out
        r = spine_nb("predict", runs/"ml", scan, "--out", tmp_path/"busy", "--device", "cpu")
    assert r.returncode == 2 and "another spine_nb predict is writing there" in r.stderr, r.stderr


def test_far_spacing_is_a_warning_with_both_spacings(runs, tiny_phantom, tmp_path):
    img = sitk.ReadImage(str(tiny_phantom/"images"/"1_t2.mha"))
    img.SetSpacing(tuple(s*3 for s in img.GetSpacing()))
    sitk.WriteImage(img, str(tmp_path/"coarse.mha"))
    with pytest.warns(UserWarning, match=r"coarse.mha: voxel size .* mm \(D, H, W\) is far from the training data's"):
        pred = predict(runs/"ml", tmp_path/"coarse.mha", device="cpu")
    assert pred.masks.shape == (3,) + read_volume(tmp_path/"coarse.mha").shape
    img = sitk.ReadImage(str(tiny_phantom/"images"/"1_t2.mha"))
    img.SetSpacing((1.0, 6.0, 2.5))                     # its thickest axis is now another one: cut in another plane
    sitk.WriteImage(img, str(tmp_path/"axial.mha"))
    with pytest.warns(UserWarning, match=r"axial.mha: cut in another plane than the training data \(turned from"):
        predict(runs/"ml", tmp_path/"axial.mha", device="cpu")
    old = shutil.copytree(runs/"ml", tmp_path/"old", ignore=shutil.ignore_patterns("predictions"))
    metrics = json.loads((old/"metrics.json").read_text())
    del metrics["train_orientation"]                     # a run trained before the orientation was recorded
    (old/"metrics.json").write_text(json.dumps(metrics))
    with pytest.warns(UserWarning, match=r"old: records no training orientation .* in its own axis order"):
        predict(old, tiny_phantom/"images"/"1_t2.mha", device="cpu")


def _write_dicom_series(img, folder):
    "An image's slices (the file's z axis) as a DICOM series, with the tags GDCM orders and places them by."
    folder.mkdir()
    w = sitk.ImageFileWriter()
    w.KeepOriginalImageUIDOn()
    d, uid = img.GetDirection(), "1.2.826.0.1.3680043.2.1125.7"
    for k in range(img.GetDepth()):
        s = img[:, :, k]
        tags = {"0008|0060": "MR", "0020|000e": uid, "0020|000d": uid + ".1", "0020|0013": str(k),
                "0020|0037": "\\".join(map(str, d[0:7:3] + d[1:8:3])), "0018|0050": str(img.GetSpacing()[2]),
                "0020|0032": "\\".join(map(str, img.TransformIndexToPhysicalPoint((0, 0, k))))}
        for t, v in tags.items(): s.SetMetaData(t, v)
        w.SetFileName(str(folder/f"{k:03d}.dcm"))
        with keep_locale(): w.Execute(s)                 # GDCM's writer sets the C locale


def test_predict_on_a_dicom_series(runs, tiny_phantom, tmp_path):
    img = sitk.Cast(sitk.ReadImage(str(tiny_phantom/"images"/"2_t2.mha")), sitk.sitkInt16)
    _write_dicom_series(img, tmp_path/"2_t2_dicom")
    before = locale.getpreferredencoding(False)
    r = spine_nb("predict", runs/"ml", tmp_path/"2_t2_dicom", "--out", tmp_path/"out", "--device", "cpu")
    assert r.returncode == 0, r.stderr
    assert locale.getpreferredencoding(False) == before, "reading DICOM changed the process's locale"
    back = sitk.ReadImage(str(tmp_path/"out"/"2_t2_dicom"/"masks.nii.gz"))
    for f in ("GetSize", "GetSpacing", "GetOrigin", "GetDirection"):
        np.testing.assert_allclose(getattr(back, f)(), getattr(img, f)(), atol=1e-4, err_msg=f)

"The SPIDER reader on the real tables and on phantom files, and a clear error for every bad input."
import shutil, subprocess, warnings
import numpy as np, pandas as pd, SimpleITK as sitk
import pytest
from conftest import BIN
from spine_nb.spider import (SpineError, audit_masks, placeholder_spider, read_case, read_spider, read_volume,
                             real_tables, split_series)

def _read(root, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore"); return read_spider(root, **kw)

def test_real_tables_give_210_t2_series(tmp_path):
    with pytest.warns(UserWarning, match="ivd_label_0 x2"):
        sp = read_spider(placeholder_spider(tmp_path/"S"))
    assert len(sp) == 210 and set(sp.series.sequence) == {"t2"}
    assert sp.series.split.value_counts().to_dict() == {"train": 134, "test": 42, "val": 34}
    assert sp.series.groupby("patient").split.nunique().max() == 1
    parts = [set(sp.subset(s).patient) for s in ("train", "val", "test")]
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    r = sp.report
    assert sorted(r[r.kind == "ivd_label_0"].patient) == [107, 152]
    assert sorted(r[r.kind == "patient_without_series"].patient) == [41, 72, 77, 126, 132, 141, 180, 219]
    other = r[r.kind == "other_sequence"]
    assert len(other) == 237 and set(other.series.str.split("_", n=1).str[1]) == {"t1", "t2_SPACE"}

def test_split_is_by_patient_and_seeded():
    df = pd.DataFrame(dict(patient=np.repeat(np.arange(210), 2)))
    a, b = split_series(df), split_series(df, seed=42)
    assert (a.split == b.split).all() and (a.groupby("patient").split.nunique() == 1).all()
    assert a.drop_duplicates("patient").split.value_counts().to_dict() == {"train": 134, "test": 42, "val": 34}

def test_phantom_reads_like_spider(tiny_phantom):
    sp = _read(tiny_phantom)
    assert len(sp) == 12 and sp.series.graded.all()
    img, msk = read_case(sp.series.image[0], sp.series["mask"][0])
    assert img.shape == msk.shape and img.spacing[0] == max(img.spacing)

@pytest.fixture
def copy(tiny_phantom, tmp_path):
    dst = tmp_path/"S"; shutil.copytree(tiny_phantom, dst); return dst

def test_missing_folders(copy):
    shutil.rmtree(copy/"masks")
    with pytest.raises(SpineError, match=r"no masks/ folder; expected the SPIDER layout"): read_spider(copy)
    shutil.rmtree(copy/"images")
    with pytest.raises(SpineError, match=r"no images/ folder"): read_spider(copy)

def test_image_without_mask(copy):
    (copy/"masks"/"3_t2.mha").unlink()
    with pytest.raises(SpineError, match=r"images/3_t2.mha: image has no mask; expected .*masks/3_t2.mha"): read_spider(copy)

def test_truncated_and_unreadable(copy):
    f = copy/"images"/"2_t2.mha"; b = f.read_bytes(); f.write_bytes(b[:len(b) - 500])
    with pytest.raises(SpineError, match=r"2_t2.mha: unreadable or truncated"): read_volume(f)
    f.write_bytes(b"not an image at all")
    with pytest.raises(SpineError, match=r"2_t2.mha: unreadable or truncated"): read_volume(f)
    sp = _read(copy)                                   # listing the folder still works: files are read when used
    assert len(sp) == 12

def _rewrite(path, fn):
    img = sitk.ReadImage(str(path)); out = fn(img); sitk.WriteImage(out, str(path))

def test_mask_shape_and_spacing_mismatch(copy):
    m = copy/"masks"/"1_t2.mha"; i = copy/"images"/"1_t2.mha"
    _rewrite(m, lambda im: im[:, :, :-1])
    with pytest.raises(SpineError, match=r"masks/1_t2.mha: mask shape .* differs from image .*images/1_t2.mha"): read_case(i, m)
    m2 = copy/"masks"/"4_t2.mha"; i2 = copy/"images"/"4_t2.mha"
    def sp(im): im.SetSpacing(tuple(s*1.5 for s in im.GetSpacing())); return im
    _rewrite(m2, sp)
    with pytest.raises(SpineError, match=r"masks/4_t2.mha: mask spacing .* differs from image"): read_case(i2, m2)

def test_nan_intensities(copy):
    i = copy/"images"/"5_t2.mha"
    def nan(im):
        a = sitk.GetArrayFromImage(im).astype(np.float32); a[0, 0, :3] = np.nan; a[1, 1, 1] = np.inf
        out = sitk.GetImageFromArray(a); out.CopyInformation(im); return out
    _rewrite(i, nan)
    with pytest.raises(SpineError, match=r"5_t2.mha: 4 NaN/inf voxel\(s\); expected finite intensities"):
        read_case(i, copy/"masks"/"5_t2.mha")

def test_gradings_missing_columns(copy):
    g = pd.read_csv(copy/"radiological_gradings.csv").drop(columns=["Disc bulging", "Pfirrman grade"])
    g.to_csv(copy/"radiological_gradings.csv", index=False)
    with pytest.raises(SpineError, match=r"radiological_gradings.csv: missing columns \['Disc bulging', 'Pfirrman grade'\]"):
        read_spider(copy)
    (copy/"radiological_gradings.csv").unlink()
    with pytest.raises(SpineError, match="gradings table not found"): read_spider(copy)

def test_mask_gradings_quirks_reported(copy):
    g = pd.read_csv(copy/"radiological_gradings.csv")
    first = g[(g.Patient == 1) & (g["IVD label"] == 2)].index
    extra = g[g.Patient == 2].iloc[[0]].assign(**{"IVD label": 12})
    pd.concat([g.drop(index=first), extra]).to_csv(copy/"radiological_gradings.csv", index=False)
    sp = _read(copy)
    with pytest.warns(UserWarning, match="masks vs gradings"):
        new = audit_masks(sp)
    assert ((new.kind == "disc_without_grading") & (new.patient == 1) & new.detail.str.contains("202")).any()
    assert ((new.kind == "grading_without_disc") & (new.patient == 2) & new.detail.str.contains("212")).any()
    assert len(sp) == 12                                              # nothing dropped

def test_phantom_cli_deterministic(tmp_path):
    runs = [subprocess.Popen([str(BIN/"spine_nb"), "phantom", str(tmp_path/d), "--cases", "4", "--size", "tiny", "--seed", "7"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for d in ("a", "b")]   # side by side
    for r in runs:
        _, err = r.communicate(timeout=300)
        assert r.returncode == 0, err
    fa = sorted(p.relative_to(tmp_path/"a") for p in (tmp_path/"a").rglob("*") if p.is_file())
    assert len(fa) == 11                                              # 4 images + 4 masks + 2 CSVs + README
    for f in fa: assert (tmp_path/"a"/f).read_bytes() == (tmp_path/"b"/f).read_bytes(), f

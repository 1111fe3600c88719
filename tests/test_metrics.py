"Metrics against independent oracles: scikit-learn's f1_score and MONAI's compute_dice, on random and adversarial cases."
import numpy as np, pytest, torch
from sklearn.metrics import f1_score
from monai.metrics import compute_dice
from spine_nb.metrics import per_class_dsc, macro_dsc, example_dsc, example_dsc_per_volume, multiclass_dsc

def cases():
    rng = np.random.default_rng(0)
    for p in (0.5, 0.1, 0.01):                                         # random, at several densities
        g = rng.random((3, 4, 3, 5, 6)) < p; pr = rng.random((3, 4, 3, 5, 6)) < p
        yield f"random{p}", pr, g
    g = np.zeros((2, 3, 2, 4, 4), bool); pr = g.copy()
    g[0, 0, 0, 0, 0] = True                                            # a single true voxel, missed
    pr[0, 1, 1, 1, 1] = True                                           # a single false voxel in an empty class
    g[1, 2] = True; pr[1, 2] = True                                    # a full class, right
    yield "adversarial", pr, g
    e = np.zeros((2, 3, 2, 2, 2), bool); f = e.copy(); f[1, 1, 0, 0, 0] = True
    yield "all-empty-but-one", f, e
    yield "single-voxel-hit", f, f

@pytest.mark.parametrize("name,pred,gt", list(cases()), ids=[c[0] for c in cases()])
def test_per_class_dsc_equals_sklearn_and_monai(name, pred, gt):
    mine = per_class_dsc(pred, gt)
    monai = compute_dice(torch.from_numpy(pred).float(), torch.from_numpy(gt).float(), include_background=True, ignore_empty=False).numpy()
    for v in range(pred.shape[0]):
        for k in range(pred.shape[1]):
            p, g = pred[v, k].ravel(), gt[v, k].ravel()
            if not p.any() and not g.any():
                assert np.isnan(mine[v, k]); continue                    # undefined: skipped
            assert mine[v, k] == pytest.approx(f1_score(g, p, zero_division=0.0))
            assert mine[v, k] == pytest.approx(float(monai[v, k]))

@pytest.mark.parametrize("name,pred,gt", list(cases()), ids=[c[0] for c in cases()])
def test_example_dsc_equals_sklearn_samples_f1(name, pred, gt):
    per_vol = example_dsc_per_volume(pred, gt)
    expect = []
    for v in range(pred.shape[0]):
        n = pred.shape[1]
        P, G = pred[v].reshape(n, -1).T, gt[v].reshape(n, -1).T        # voxels x labels
        keep = P.any(1) | G.any(1)
        if not keep.any(): assert np.isnan(per_vol[v]); continue
        ref = f1_score(G[keep].astype(int), P[keep].astype(int), average="samples", zero_division=0.0)
        assert per_vol[v] == pytest.approx(ref); expect.append(ref)
    if expect: assert example_dsc(pred, gt) == pytest.approx(np.mean(expect))
    else: assert np.isnan(example_dsc(pred, gt))

def test_macro_dsc_is_mean_of_defined():
    rng = np.random.default_rng(1)
    g = rng.random((5, 3, 4, 4, 4)) < 0.05; p = rng.random(g.shape) < 0.05
    d = per_class_dsc(p, g)
    expect = np.mean([np.nanmean(d[:, k]) for k in range(3) if not np.isnan(d[:, k]).all()])
    assert macro_dsc(p, g) == pytest.approx(expect)
    assert macro_dsc(list(p), list(g)) == pytest.approx(expect)        # a list of (n, D, H, W) works the same

def test_multiclass_dsc_equals_sklearn():
    rng = np.random.default_rng(2)
    g = rng.integers(0, 5, (3, 6, 6)); p = rng.integers(0, 5, (3, 6, 6)); p[0][p[0] == 4] = 0; g[0][g[0] == 4] = 0
    mine = multiclass_dsc(list(p), list(g), 4)
    for v in range(3):
        for c in range(1, 5):
            pp, gg = (p[v] == c).ravel(), (g[v] == c).ravel()
            if not pp.any() and not gg.any(): assert np.isnan(mine[v, c - 1]); continue
            assert mine[v, c - 1] == pytest.approx(f1_score(gg, pp))

@pytest.mark.parametrize("name,pred,gt", list(cases()), ids=[c[0] for c in cases()])
def test_batch_scores_equal_numpy(name, pred, gt):
    "Device-side scoring (`batch_scores`, torch) against the numpy reference on the oracle cases."
    from spine_nb.metrics import batch_scores
    pc, ex = batch_scores(torch.from_numpy(pred), torch.from_numpy(gt))
    np.testing.assert_allclose(pc.numpy(), per_class_dsc(pred, gt), atol=1e-6)
    np.testing.assert_allclose(ex.numpy(), example_dsc_per_volume(pred, gt), atol=1e-6)
    assert pc.shape == pred.shape[:2] and ex.shape == pred.shape[:1]

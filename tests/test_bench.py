"`spine_nb bench` on a CPU: the smoke test of every architecture, writing the results file and its table."
import json, subprocess
from conftest import BIN

def test_bench_cli_cpu_smoke(tmp_path):
    out = tmp_path/"results"
    r = subprocess.run([str(BIN/"spine_nb"), "bench", "--out", str(out), "--k-arch", "none", "--device", "cpu"],
                       capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    js = list(out.glob("cpu-*.json")); assert len(js) == 1
    res = json.loads(js[0].read_text())
    assert "CPU smoke test" in res["label"]
    assert set(res["training"]) == {"unet3d", "vnet", "resnet50_unet", "unetr", "swin_unetr"}
    for arch, t in res["training"].items():
        assert t["naive"]["volumes_per_s"] > 0 and t["fast"]["volumes_per_s"] > 0, arch
        assert 0 <= t["fast"]["data_wait_share"] < 1 and t["flops_per_step"] > 0, arch
        i = res["inference"][arch]
        for p in ("", "sw_"):                       # one window at the ROI, and sliding windows over a whole volume
            assert i[p + "multilabel"] > 0 and i[p + "binary_sequential"] > 0 and i[p + "binary_fused"] > 0, (arch, p)
    assert res["settings"]["sw_shape"] == [20, 64, 96]
    assert res["projection"]["total_hours"] > 0
    md = js[0].with_suffix(".md").read_text()
    assert md.count("| swin_unetr |") == 2 and "not a real projection" in md
    assert "fast vol/s" in r.stdout or "vol/s" in r.stdout

def test_bench_bad_arch(tmp_path):
    r = subprocess.run([str(BIN/"spine_nb"), "bench", "--out", str(tmp_path), "--arch", "unet2d"], capture_output=True, text=True)
    assert r.returncode == 2 and "unknown arch 'unet2d'" in r.stderr

"Every architecture x strategy trains a step at a tiny ROI; every loss x strategy learns; bad names and ROIs fail early."
import pytest, torch
from spine_nb.core import ConfigError
from spine_nb.labels import STRATEGIES, get_strategy
from spine_nb.models import ARCHS, LOSSES, build_loss, build_model, check_roi

def out_channels(strategy, n, m=None): return get_strategy(strategy).out_channels(n, m)

N, M = 9, 7    # pathologies (spider9) and a small multi-class codebook

def _target(strategy, shape, g):
    if strategy == "multiclass": return torch.randint(0, M + 1, (shape[0], 1) + shape[2:], generator=g)
    return (torch.rand((shape[0], out_channels(strategy, N)) + shape[2:], generator=g) > 0.8).float()

@pytest.mark.parametrize("arch", list(ARCHS))
def test_every_arch_and_strategy_forward_backward(arch):
    k = ARCHS[arch].multiple; roi = (k, 2*k, 2*k)         # the smallest ROI each architecture accepts
    for strategy in STRATEGIES:
        torch.manual_seed(0); g = torch.Generator().manual_seed(0)
        net = build_model(arch, out_channels(strategy, N, M), roi).train()
        x = torch.randn((2, 1) + roi, generator=g)
        y = net(x)
        assert tuple(y.shape) == (2, out_channels(strategy, N, M)) + roi, (arch, strategy)
        loss = build_loss("dice", strategy)(y, _target(strategy, y.shape, g))
        loss.backward()
        # every parameter gets a gradient, except MONAI's ViT blocks' cross-attention norms, which UNETR never uses
        missing = [n for n, p in net.named_parameters() if p.grad is None and "norm_cross_attn" not in n]
        assert not missing, (arch, strategy, missing[:5])
        assert all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)
        assert net(x).shape == y.shape

@pytest.mark.parametrize("loss", list(LOSSES))
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_each_loss_with_each_strategy_learns(loss, strategy):
    "A few Adam steps on one fixed batch lower the loss: the target format and the activation are right."
    torch.manual_seed(0); g = torch.Generator().manual_seed(1)
    roi = (16, 32, 32)
    net = build_model("unet3d", out_channels(strategy, N, M), roi)
    x = torch.randn((2, 1) + roi, generator=g)
    y = _target(strategy, (2, 0) + roi, g)
    fn = build_loss(loss, strategy)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    first = None
    for _ in range(15):
        l = fn(net(x), y); opt.zero_grad(); l.backward(); opt.step()
        first = float(l) if first is None else first
    assert float(fn(net(x), y)) < first - 0.01, (loss, strategy, first, float(l))

def test_bad_names_and_rois_list_the_allowed_values():
    with pytest.raises(ConfigError, match=r"expected one of \['unet3d', 'vnet', 'resnet50_unet', 'unetr', 'swin_unetr'\]"): build_model("unet", 2)
    with pytest.raises(ConfigError, match=r"expected one of \['dice', 'dicefocal', 'gdl'\]"): build_loss("bce", "binary")
    with pytest.raises(ConfigError, match=r"expected one of \['binary', 'multiclass', 'multilabel'\]"): get_strategy("multi-label")
    with pytest.raises(ConfigError, match="multiple of 32"): check_roi("swin_unetr", (16, 192, 192))
    with pytest.raises(ConfigError, match="multiple of 16"): check_roi("unetr", (32, 190, 192))
    with pytest.raises(ConfigError, match="multiple of 32"): check_roi("resnet50_unet", (48, 192, 192))
    for arch in ARCHS: assert check_roi(arch, (32, 192, 192)) == (32, 192, 192)   # the paper's ROI suits all five

"""A sixth architecture, written outside spine_nb: nnU-Net's plain convolutional U-Net (`PlainConvUNet`, from the
`dynamic-network-architectures` package that nnU-Net builds its networks with; the `nnunet` extra installs it).

It is one builder `build(in_channels, out_channels, roi) -> torch.nn.Module` and one `register_arch` call; every table
that knows each architecture (fusing, channels_last, the demo's budget) takes its defaults. To use it in every process
a run touches, put this folder on PYTHONPATH and name the module in SPINE_NB_PLUGINS:

    PYTHONPATH=nbs/extensions SPINE_NB_PLUGINS=spine_nb_plain_unet spine_nb sweep --arch plain_unet ...
"""
import torch

from spine_nb.models import register_arch


def plain_unet(in_channels, out_channels, roi):
    "nnU-Net's PlainConvUNet: 5 stages of two 3x3x3 convolutions, instance norm, leaky ReLU, 4 downsamplings by 2."
    from dynamic_network_architectures.architectures.unet import PlainConvUNet
    return PlainConvUNet(in_channels, 5, (16, 32, 64, 128, 256), torch.nn.Conv3d, 3, (1, 2, 2, 2, 2), 2,
                         out_channels, 2, conv_bias=True, norm_op=torch.nn.InstanceNorm3d,
                         norm_op_kwargs=dict(eps=1e-5, affine=True), nonlin=torch.nn.LeakyReLU,
                         nonlin_kwargs=dict(inplace=True), deep_supervision=False)


register_arch("plain_unet", plain_unet, multiple=16,
              doc="nnU-Net's PlainConvUNet (dynamic-network-architectures), features 16-256, 4 stride-2 stages")

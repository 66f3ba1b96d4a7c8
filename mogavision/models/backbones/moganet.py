# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""MogaNet backbone: one implementation for classification, detection,
segmentation and pose.

State-dict keys, shapes and numerics are identical to the authors' release
(Westlake-AI/MogaNet ``models/moganet.py``), so released checkpoints load
without renaming.
"""
import math
from typing import Dict, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint as cp
from mmcv.cnn import build_activation_layer, build_norm_layer
from mmcv.cnn.bricks import DropPath
from mmpretrain.models.backbones.base_backbone import BaseBackbone
from torch.nn.modules.batchnorm import _BatchNorm

from mogavision.registry import MODELS


class ElementScale(nn.Module):
    """A learnable per-channel scale of shape (1, C, 1, 1).

    Args:
        embed_dims (int): Number of channels.
        init_value (float): Initial value of the scale. Defaults to 0.
    """

    def __init__(self, embed_dims: int, init_value: float = 0.):
        super().__init__()
        self.scale = nn.Parameter(init_value * torch.ones((1, embed_dims, 1, 1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale


class ChannelAggregationFFN(nn.Module):
    """Feed-forward network with channel aggregation.

    ``fc1 -> dwconv -> act -> drop -> x + sigma(x - act(decompose(x))) -> fc2
    -> drop``.

    Args:
        embed_dims (int): Input and output channels.
        feedforward_channels (int): Hidden channels.
        kernel_size (int): Kernel size of the depth-wise conv. Defaults to 3.
        act_cfg (dict): Activation config. Defaults to ``dict(type='GELU')``.
        ffn_drop (float): Dropout probability. Defaults to 0.
    """

    def __init__(self,
                 embed_dims: int,
                 feedforward_channels: int,
                 kernel_size: int = 3,
                 act_cfg: dict = dict(type='GELU'),
                 ffn_drop: float = 0.):
        super().__init__()
        self.embed_dims = embed_dims
        self.feedforward_channels = feedforward_channels
        # Creation order fixes the state-dict order of the release.
        self.fc1 = nn.Conv2d(embed_dims, feedforward_channels, kernel_size=1)
        self.dwconv = nn.Conv2d(
            feedforward_channels,
            feedforward_channels,
            kernel_size=kernel_size,
            padding=kernel_size // 2,
            groups=feedforward_channels)
        self.act = build_activation_layer(act_cfg)
        self.fc2 = nn.Conv2d(feedforward_channels, embed_dims, kernel_size=1)
        self.drop = nn.Dropout(ffn_drop)
        self.decompose = nn.Conv2d(feedforward_channels, 1, kernel_size=1)
        self.sigma = ElementScale(feedforward_channels, init_value=1e-5)
        self.decompose_act = build_activation_layer(act_cfg)

    def feat_decompose(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.sigma(x - self.decompose_act(self.decompose(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.drop(self.act(self.dwconv(self.fc1(x))))
        x = self.feat_decompose(x)
        return self.drop(self.fc2(x))


class MultiOrderDWConv(nn.Module):
    """Multi-order depth-wise convolution: a 5x5 DW conv on all channels, then
    two dilated DW convs on channel splits, mixed by a point-wise conv.

    Args:
        embed_dims (int): Number of channels; must be divisible by
            ``sum(channel_split)``.
        dw_dilation (Sequence[int]): Dilations of the three DW convs, each in
            [1, 3]. Defaults to (1, 2, 3).
        channel_split (Sequence[int]): Relative sizes of the three channel
            groups. Defaults to (1, 3, 4).
    """

    def __init__(self,
                 embed_dims: int,
                 dw_dilation: Sequence[int] = (1, 2, 3),
                 channel_split: Sequence[int] = (1, 3, 4)):
        super().__init__()
        if len(dw_dilation) != 3 or len(channel_split) != 3:
            raise ValueError('attn_dw_dilation and attn_channel_split need 3 '
                             f'entries each, got {list(dw_dilation)} and '
                             f'{list(channel_split)}.')
        if not all(1 <= d <= 3 for d in dw_dilation):
            raise ValueError('attn_dw_dilation entries must be in [1, 3], '
                             f'got {list(dw_dilation)}.')
        if embed_dims % sum(channel_split) != 0:
            raise ValueError(
                f'embed_dims={embed_dims} is not divisible by '
                f'sum(attn_channel_split)={sum(channel_split)}; choose stage '
                f'widths that are multiples of {sum(channel_split)}.')
        split_ratio = [c / sum(channel_split) for c in channel_split]
        self.embed_dims = embed_dims
        self.embed_dims_1 = int(split_ratio[1] * embed_dims)
        self.embed_dims_2 = int(split_ratio[2] * embed_dims)
        self.embed_dims_0 = embed_dims - self.embed_dims_1 - self.embed_dims_2

        def dw_conv(channels, kernel_size, dilation):
            return nn.Conv2d(
                channels,
                channels,
                kernel_size=kernel_size,
                padding=(1 + (kernel_size - 1) * dilation) // 2,
                groups=channels,
                dilation=dilation)

        self.DW_conv0 = dw_conv(embed_dims, 5, dw_dilation[0])
        self.DW_conv1 = dw_conv(self.embed_dims_1, 5, dw_dilation[1])
        self.DW_conv2 = dw_conv(self.embed_dims_2, 7, dw_dilation[2])
        self.PW_conv = nn.Conv2d(embed_dims, embed_dims, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_0 = self.DW_conv0(x)
        e0, e1 = self.embed_dims_0, self.embed_dims_1
        x_1 = self.DW_conv1(x_0[:, e0:e0 + e1])
        x_2 = self.DW_conv2(x_0[:, self.embed_dims - self.embed_dims_2:])
        return self.PW_conv(torch.cat([x_0[:, :e0], x_1, x_2], dim=1))


class MultiOrderGatedAggregation(nn.Module):
    """Spatial aggregation: ``proj_2(act(gate(x)) * act(value(x))) + x``
    after a feature-decomposition of ``proj_1(x)``.

    Args:
        embed_dims (int): Number of channels.
        attn_dw_dilation (Sequence[int]): See :class:`MultiOrderDWConv`.
        attn_channel_split (Sequence[int]): See :class:`MultiOrderDWConv`.
        attn_act_cfg (dict): Activation of the gate and value branches.
            Defaults to ``dict(type='SiLU')``.
        attn_force_fp32 (bool): The release's flag: compute the gating in fp32
            *and* apply the activation twice to both branches. A different
            function, needed for weights trained with it (OpenMixup
            ``moga_*.pth``). Defaults to False.
        attn_gate_fp32 (bool): Compute the gating product and ``proj_2`` in
            fp32 under autocast, without changing the function. Defaults to
            False.
    """

    def __init__(self,
                 embed_dims: int,
                 attn_dw_dilation: Sequence[int] = (1, 2, 3),
                 attn_channel_split: Sequence[int] = (1, 3, 4),
                 attn_act_cfg: dict = dict(type='SiLU'),
                 attn_force_fp32: bool = False,
                 attn_gate_fp32: bool = False):
        super().__init__()
        self.embed_dims = embed_dims
        self.attn_force_fp32 = attn_force_fp32
        self.attn_gate_fp32 = attn_gate_fp32
        self.proj_1 = nn.Conv2d(embed_dims, embed_dims, kernel_size=1)
        self.gate = nn.Conv2d(embed_dims, embed_dims, kernel_size=1)
        self.value = MultiOrderDWConv(embed_dims, attn_dw_dilation,
                                      attn_channel_split)
        self.proj_2 = nn.Conv2d(embed_dims, embed_dims, kernel_size=1)
        self.act_value = build_activation_layer(attn_act_cfg)
        self.act_gate = build_activation_layer(attn_act_cfg)
        self.sigma = ElementScale(embed_dims, init_value=1e-5)
        # False once MogaBlock.switch_to_deploy() has moved the shortcut out.
        self.with_shortcut = True

    def feat_decompose(self, x: torch.Tensor) -> torch.Tensor:
        x = self.proj_1(x)
        x_d = F.adaptive_avg_pool2d(x, output_size=1)
        return self.act_value(x + self.sigma(x - x_d))

    def _gating_fp32(self, g: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=g.device.type, enabled=False):
            g, v = g.float(), v.float()
            return self.proj_2(self.act_gate(g) * self.act_gate(v))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        x = self.feat_decompose(x)
        g, v = self.gate(x), self.value(x)
        if self.attn_force_fp32:
            # Reproduces the release: activation applied before *and* inside.
            x = self._gating_fp32(self.act_gate(g), self.act_gate(v))
        elif self.attn_gate_fp32:
            x = self._gating_fp32(g, v)
        else:
            x = self.proj_2(self.act_gate(g) * self.act_gate(v))
        return x + shortcut if self.with_shortcut else x


class MogaBlock(nn.Module):
    """One MogaNet block: gated aggregation then channel-aggregation FFN,
    each pre-normed, layer-scaled and residual.

    Args:
        embed_dims (int): Number of channels.
        ffn_ratio (float): Hidden/input channel ratio of the FFN.
            Defaults to 4.
        drop_rate (float): Dropout in the FFN. Defaults to 0.
        drop_path_rate (float): Stochastic depth rate. Defaults to 0.
        act_cfg (dict): FFN activation. Defaults to ``dict(type='GELU')``.
        norm_cfg (dict): Norm layers. Defaults to ``dict(type='BN')``.
        init_value (float): Initial layer scale. Defaults to 1e-5.
        attn_dw_dilation (Sequence[int]): See :class:`MultiOrderDWConv`.
        attn_channel_split (Sequence[int]): See :class:`MultiOrderDWConv`.
        attn_act_cfg (dict): See :class:`MultiOrderGatedAggregation`.
        attn_force_fp32 (bool): See :class:`MultiOrderGatedAggregation`.
        attn_gate_fp32 (bool): See :class:`MultiOrderGatedAggregation`.
    """

    def __init__(self,
                 embed_dims: int,
                 ffn_ratio: float = 4.,
                 drop_rate: float = 0.,
                 drop_path_rate: float = 0.,
                 act_cfg: dict = dict(type='GELU'),
                 norm_cfg: dict = dict(type='BN'),
                 init_value: float = 1e-5,
                 attn_dw_dilation: Sequence[int] = (1, 2, 3),
                 attn_channel_split: Sequence[int] = (1, 3, 4),
                 attn_act_cfg: dict = dict(type='SiLU'),
                 attn_force_fp32: bool = False,
                 attn_gate_fp32: bool = False):
        super().__init__()
        self.out_channels = embed_dims
        self.norm1 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.attn = MultiOrderGatedAggregation(
            embed_dims,
            attn_dw_dilation=attn_dw_dilation,
            attn_channel_split=attn_channel_split,
            attn_act_cfg=attn_act_cfg,
            attn_force_fp32=attn_force_fp32,
            attn_gate_fp32=attn_gate_fp32)
        self.drop_path = (
            DropPath(drop_path_rate) if drop_path_rate > 0. else nn.Identity())
        self.norm2 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.mlp = ChannelAggregationFFN(
            embed_dims=embed_dims,
            feedforward_channels=int(embed_dims * ffn_ratio),
            act_cfg=act_cfg,
            ffn_drop=drop_rate)
        self.layer_scale_1 = nn.Parameter(
            init_value * torch.ones((1, embed_dims, 1, 1)))
        self.layer_scale_2 = nn.Parameter(
            init_value * torch.ones((1, embed_dims, 1, 1)))

        self.deploy = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.deploy:
            x = torch.addcmul(self.identity_shift, x, self.identity_scale) + \
                self.attn(x)
            return x + self.mlp(x)
        x = x + self.drop_path(self.layer_scale_1 * self.attn(self.norm1(x)))
        x = x + self.drop_path(self.layer_scale_2 * self.mlp(self.norm2(x)))
        return x

    @torch.no_grad()
    def switch_to_deploy(self, *args, **kwargs):
        """Fold ``norm1`` into ``attn.proj_1`` and ``norm2`` into ``mlp.fc1``
        (both 1x1 convs, so exact), and the layer scales into ``proj_2`` and
        ``fc2``. The attention's inner shortcut ``norm1(x)`` becomes a
        per-channel affine of ``x`` merged with the block's residual:
        ``x + ls1 * (a * x + b) = x * (1 + ls1 * a) + ls1 * b``. Idempotent;
        arguments (mmpose passes its ``test_cfg``) are ignored."""
        if self.deploy:
            return
        scale1, shift1 = _bn_affine(self.norm1)
        _fold_affine_into_next_conv(scale1, shift1, self.attn.proj_1)
        _scale_conv_output(self.attn.proj_2, self.layer_scale_1.flatten())
        scale2, shift2 = _bn_affine(self.norm2)
        _fold_affine_into_next_conv(scale2, shift2, self.mlp.fc1)
        _scale_conv_output(self.mlp.fc2, self.layer_scale_2.flatten())
        ls1 = self.layer_scale_1.flatten()
        self.register_buffer('identity_scale', (1 + ls1 * scale1).view(1, -1, 1, 1))
        self.register_buffer('identity_shift', (ls1 * shift1).view(1, -1, 1, 1))
        self.attn.with_shortcut = False
        self.norm1, self.norm2 = nn.Identity(), nn.Identity()
        del self.layer_scale_1, self.layer_scale_2
        self.drop_path = nn.Identity()
        self.deploy = True


class StackConvPatchEmbed(nn.Module):
    """The stem: two stride-2 3x3 convs with norm, activation in between.

    Args:
        in_channels (int): Input channels.
        embed_dims (int): Output channels (the hidden width is half).
        norm_cfg (dict): Norm layers. Defaults to ``dict(type='BN')``.
        act_cfg (dict): Activation. Defaults to ``dict(type='GELU')``.
    """

    def __init__(self,
                 in_channels: int,
                 embed_dims: int,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='GELU')):
        super().__init__()
        self.projection = nn.Sequential(
            nn.Conv2d(in_channels, embed_dims // 2, 3, stride=2, padding=1),
            build_norm_layer(norm_cfg, embed_dims // 2)[1],
            build_activation_layer(act_cfg),
            nn.Conv2d(embed_dims // 2, embed_dims, 3, stride=2, padding=1),
            build_norm_layer(norm_cfg, embed_dims)[1],
        )
        self.deploy = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.projection(x)

    @torch.no_grad()
    def switch_to_deploy(self, *args, **kwargs):
        """Fold each BN into the conv before it. Idempotent; arguments are
        ignored."""
        if self.deploy:
            return
        conv1, bn1, act, conv2, bn2 = self.projection
        _fold_bn_into_prev_conv(conv1, bn1)
        _fold_bn_into_prev_conv(conv2, bn2)
        self.projection = nn.Sequential(conv1, act, conv2)
        self.deploy = True


class ConvPatchEmbed(nn.Module):
    """Downsampling between stages: a stride-2 3x3 conv and a norm.

    Args:
        in_channels (int): Input channels.
        embed_dims (int): Output channels.
        norm_cfg (dict): Norm layer. Defaults to ``dict(type='BN')``.
    """

    def __init__(self,
                 in_channels: int,
                 embed_dims: int,
                 norm_cfg: dict = dict(type='BN')):
        super().__init__()
        self.projection = nn.Conv2d(
            in_channels, embed_dims, 3, stride=2, padding=1)
        self.norm = build_norm_layer(norm_cfg, embed_dims)[1]
        self.deploy = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.projection(x))

    @torch.no_grad()
    def switch_to_deploy(self, *args, **kwargs):
        """Fold the BN into the conv before it. Idempotent; arguments are
        ignored."""
        if self.deploy:
            return
        _fold_bn_into_prev_conv(self.projection, self.norm)
        self.norm = nn.Identity()
        self.deploy = True


@MODELS.register_module()
class MogaNet(BaseBackbone):
    """MogaNet backbone.

    A PyTorch implementation of `MogaNet: Multi-order Gated Aggregation
    Network <https://arxiv.org/abs/2211.03295>`_ (ICLR 2024).

    Modified from the `official implementation
    <https://github.com/Westlake-AI/MogaNet>`_, with identical state-dict keys
    and numerics.

    Args:
        arch (str | dict): Architecture: one of ``xtiny/tiny/small/base/large/
            xlarge`` or an alias listed in ``arch_settings`` (``xt``, ``t``,
            ``x-tiny``, ...), or a dict with exactly the keys ``embed_dims``,
            ``depths`` and ``ffn_ratios``. Defaults to ``'tiny'``.
        in_channels (int): Input image channels. Defaults to 3.
        drop_path_rate (float): Stochastic depth rate, rising linearly over
            all blocks. Defaults to 0.
        drop_rate (float): Dropout in the FFNs. Defaults to 0.
        init_value (float): Initial layer-scale value. Defaults to 1e-5.
        stem_norm_cfg (dict): Norm after each stage (``norm1..4``).
            Defaults to ``dict(type='BN')``.
        conv_norm_cfg (dict): Norm in the patch embeddings and blocks.
            Defaults to ``dict(type='BN')``.
        attn_dw_dilation (Sequence[int]): Dilations of the three depth-wise
            convs of the value branch. Defaults to (1, 2, 3).
        attn_channel_split (Sequence[int]): Relative channel split of the value
            branch; stage widths must be divisible by its sum. Defaults to
            (1, 3, 4).
        attn_act_cfg (dict): Gate/value activation. Defaults to
            ``dict(type='SiLU')``.
        attn_force_fp32 (bool): The release's flag, which computes the gating
            in fp32 and applies the activation twice (a different function).
            Off for the MogaNet-repo weights, on for OpenMixup's ``moga_*.pth``.
            Defaults to False.
        attn_gate_fp32 (bool): Keep the gating product and ``proj_2`` in fp32
            under autocast without changing the function. Defaults to False.
        out_indices (int | Sequence[int]): Stages whose ``norm{i}`` output is
            returned; negative indices count from the end. Defaults to (3, ).
        frozen_stages (int): Freeze the stem and the first ``frozen_stages``
            stages (patch embedding, blocks and norm; parameters fixed and
            norms in eval mode). 0 (or -1) freezes nothing. Defaults to 0.
        norm_eval (bool): Keep every BatchNorm in eval mode while training.
            Defaults to False.
        with_cp (bool): Activation checkpointing per block, trading compute
            for memory. Defaults to False.
        channels_last (bool): Keep weights and activations in the
            channels-last memory format (faster convs on CPU and tensor-core
            GPUs); the same function. The outputs stay channels-last, and
            mmcv's RoIAlign misreads such features: mogavision's tools swap
            in :class:`~mogavision.ops.ParallelRoIAlign`; elsewhere add
            ``custom_hooks=[dict(type='mogavision.ParallelRoIAlignHook')]``.
            Defaults to False.
        init_cfg (dict | list[dict], optional): Initialization config. With
            ``dict(type='Pretrained', checkpoint=..., prefix=None,
            use_ema=None)`` any released checkpoint format is loaded from a
            path, a URL or ``mogavision://moganet_<arch>``, see
            :mod:`mogavision.checkpoint`. Defaults to None (the release's
            initialization).
    """

    arch_settings = {
        **dict.fromkeys(['xtiny', 'xt', 'x-tiny'], {
            'embed_dims': [32, 64, 96, 192],
            'depths': [3, 3, 10, 2],
            'ffn_ratios': [8, 8, 4, 4]
        }),
        **dict.fromkeys(['tiny', 't'], {
            'embed_dims': [32, 64, 128, 256],
            'depths': [3, 3, 12, 2],
            'ffn_ratios': [8, 8, 4, 4]
        }),
        **dict.fromkeys(['small', 's'], {
            'embed_dims': [64, 128, 320, 512],
            'depths': [2, 3, 12, 2],
            'ffn_ratios': [8, 8, 4, 4]
        }),
        **dict.fromkeys(['base', 'b'], {
            'embed_dims': [64, 160, 320, 512],
            'depths': [4, 6, 22, 3],
            'ffn_ratios': [8, 8, 4, 4]
        }),
        **dict.fromkeys(['large', 'l'], {
            'embed_dims': [64, 160, 320, 640],
            'depths': [4, 6, 44, 4],
            'ffn_ratios': [8, 8, 4, 4]
        }),
        **dict.fromkeys(['xlarge', 'xl', 'x-large'], {
            'embed_dims': [96, 192, 480, 960],
            'depths': [6, 6, 44, 4],
            'ffn_ratios': [8, 8, 4, 4]
        }),
    }  # yapf: disable

    num_stages = 4
    # Layer split of the release's layer-wise lr decay (detection B/L rows).
    layer_decay_num_layers = 12

    def __init__(self,
                 arch: Union[str, Dict] = 'tiny',
                 in_channels: int = 3,
                 drop_path_rate: float = 0.,
                 drop_rate: float = 0.,
                 init_value: float = 1e-5,
                 stem_norm_cfg: dict = dict(type='BN'),
                 conv_norm_cfg: dict = dict(type='BN'),
                 attn_dw_dilation: Sequence[int] = (1, 2, 3),
                 attn_channel_split: Sequence[int] = (1, 3, 4),
                 attn_act_cfg: dict = dict(type='SiLU'),
                 attn_force_fp32: bool = False,
                 attn_gate_fp32: bool = False,
                 out_indices: Union[int, Sequence[int]] = (3, ),
                 frozen_stages: int = 0,
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 channels_last: bool = False,
                 init_cfg: Optional[Union[dict, list]] = None):
        super().__init__(init_cfg=init_cfg)
        self.arch_name, self.arch = self._parse_arch(arch)
        self.embed_dims = list(self.arch['embed_dims'])
        self.depths = list(self.arch['depths'])
        self.ffn_ratios = list(self.arch['ffn_ratios'])
        divisor = sum(attn_channel_split)
        bad = [c for c in self.embed_dims if c % divisor]
        if bad:
            raise ValueError(
                f'MogaNet stage widths {self.embed_dims} must be divisible by '
                f'{divisor} (sum of attn_channel_split='
                f'{list(attn_channel_split)}); {bad} are not. Use multiples '
                f'of {divisor}.')
        self.out_indices = self._parse_out_indices(out_indices)
        if not (isinstance(frozen_stages, int)
                and -1 <= frozen_stages <= self.num_stages):
            raise ValueError(
                f'frozen_stages must be an int in [-1, {self.num_stages}] '
                f'(0 or -1 = nothing frozen), got {frozen_stages!r}.')
        self.frozen_stages = max(frozen_stages, 0)
        self.norm_eval = norm_eval
        self.with_cp = with_cp
        self.channels_last = channels_last
        self.attn_force_fp32 = attn_force_fp32
        self.deploy = False

        dpr = torch.linspace(
            0, drop_path_rate, sum(self.depths), device='cpu').tolist()
        block_idx = 0
        for i, depth in enumerate(self.depths):
            if i == 0:
                patch_embed = StackConvPatchEmbed(
                    in_channels, self.embed_dims[0], norm_cfg=conv_norm_cfg)
            else:
                patch_embed = ConvPatchEmbed(
                    self.embed_dims[i - 1],
                    self.embed_dims[i],
                    norm_cfg=conv_norm_cfg)
            blocks = nn.ModuleList([
                MogaBlock(
                    embed_dims=self.embed_dims[i],
                    ffn_ratio=self.ffn_ratios[i],
                    drop_rate=drop_rate,
                    drop_path_rate=dpr[block_idx + j],
                    norm_cfg=conv_norm_cfg,
                    init_value=init_value,
                    attn_dw_dilation=attn_dw_dilation,
                    attn_channel_split=attn_channel_split,
                    attn_act_cfg=attn_act_cfg,
                    attn_force_fp32=attn_force_fp32,
                    attn_gate_fp32=attn_gate_fp32) for j in range(depth)
            ])
            block_idx += depth
            self.add_module(f'patch_embed{i + 1}', patch_embed)
            self.add_module(f'blocks{i + 1}', blocks)
            self.add_module(f'norm{i + 1}',
                            build_norm_layer(stem_norm_cfg,
                                             self.embed_dims[i])[1])

        self._freeze_stages()
        if channels_last:
            self.to(memory_format=torch.channels_last)

    @classmethod
    def _parse_arch(cls, arch) -> Tuple[str, dict]:
        if isinstance(arch, str):
            key = arch.lower()
            if key not in cls.arch_settings:
                raise KeyError(
                    f'Unknown MogaNet arch {arch!r}; choose one of '
                    f'{sorted(cls.arch_settings)} or pass a dict with keys '
                    "'embed_dims', 'depths', 'ffn_ratios'.")
            return key, cls.arch_settings[key]
        essential = {'embed_dims', 'depths', 'ffn_ratios'}
        if not isinstance(arch, dict) or set(arch) != essential:
            got = sorted(arch) if isinstance(arch, dict) else type(arch).__name__
            raise ValueError(f'A custom MogaNet arch must be a dict with exactly '
                             f'the keys {sorted(essential)}, got {got}.')
        lengths = {k: len(v) for k, v in arch.items()}
        if set(lengths.values()) != {cls.num_stages}:
            raise ValueError(f'Each entry of a custom MogaNet arch needs '
                             f'{cls.num_stages} values (one per stage), got '
                             f'lengths {lengths}.')
        return 'custom', dict(arch)

    @classmethod
    def output_channels(cls, arch='tiny', out_indices=(3, )) -> Tuple[int, ...]:
        """Channels of the features a MogaNet with this ``arch`` and
        ``out_indices`` returns, without building it."""
        embed_dims = cls._parse_arch(arch)[1]['embed_dims']
        return tuple(embed_dims[i] for i in cls._parse_out_indices(out_indices))

    @classmethod
    def _parse_out_indices(cls, out_indices) -> Tuple[int, ...]:
        if isinstance(out_indices, int):
            out_indices = [out_indices]
        if not isinstance(out_indices, Sequence) or not out_indices or \
                not all(isinstance(i, int) for i in out_indices):
            raise TypeError('out_indices must be an int or a non-empty '
                            f'sequence of ints, got {out_indices!r}.')
        normalized = []
        for index in out_indices:
            if not -cls.num_stages <= index < cls.num_stages:
                raise ValueError(
                    f'out_indices entry {index} is out of range; MogaNet has '
                    f'{cls.num_stages} stages (valid: 0..3 or -4..-1).')
            normalized.append(index % cls.num_stages)
        if len(set(normalized)) != len(normalized):
            raise ValueError(f'out_indices {list(out_indices)} name the same '
                             'stage twice.')
        return tuple(sorted(normalized))

    @property
    def out_channels(self) -> Tuple[int, ...]:
        """Channels of each returned feature map, in output order."""
        return tuple(self.embed_dims[i] for i in self.out_indices)

    def stage_modules(self, index: int) -> Tuple[nn.Module, nn.Module, nn.Module]:
        """The (patch_embed, blocks, norm) of stage ``index`` (0-based)."""
        return (getattr(self, f'patch_embed{index + 1}'),
                getattr(self, f'blocks{index + 1}'),
                getattr(self, f'norm{index + 1}'))

    def init_weights(self):
        """Load ``init_cfg`` Pretrained weights in any released format, apply
        another ``init_cfg``, or the release's own initialization."""
        if self.init_cfg is None:
            self.apply(_release_init)
            return
        init_cfg = self.init_cfg
        if isinstance(init_cfg, dict) and init_cfg.get('type') == 'Pretrained':
            from mogavision.checkpoint import load_backbone_checkpoint
            unknown = set(init_cfg) - {'type', 'checkpoint', 'prefix',
                                       'map_location', 'use_ema'}
            if unknown:
                raise KeyError(f'Unknown keys {sorted(unknown)} in MogaNet '
                               "init_cfg of type 'Pretrained'; allowed: "
                               'checkpoint, prefix, map_location, use_ema.')
            self.apply(_release_init)
            load_backbone_checkpoint(
                self,
                init_cfg['checkpoint'],
                prefix=init_cfg.get('prefix'),
                use_ema=init_cfg.get('use_ema'),
                map_location=init_cfg.get('map_location', 'cpu'))
            self._is_init = True
            return
        super().init_weights()

    def _freeze_stages(self):
        for i in range(self.frozen_stages):
            for module in self.stage_modules(i):
                module.eval()
                for param in module.parameters():
                    param.requires_grad = False

    @torch.no_grad()
    def switch_to_deploy(self, *args, **kwargs):
        """Fold every BatchNorm that a conv can absorb and the layer scales
        into convs, for inference. Exact in eval mode (up to float rounding);
        the folded model cannot be trained. Idempotent, here and in every
        submodule's ``switch_to_deploy``: mmpose's
        ``BasePoseEstimator.switch_to_deploy`` (and mmdeploy through it)
        calls it on the backbone and then on each of its submodules, with
        the estimator's ``test_cfg``, which folding does not need (ignored)."""
        if self.deploy:
            return self
        bad = [name for name, m in self.named_modules()
               if isinstance(m, (nn.GroupNorm, nn.LayerNorm))]
        if bad:
            raise TypeError('switch_to_deploy() folds BatchNorm only; found '
                            f'other norms at {bad[:3]}.')
        self.eval()
        for i in range(self.num_stages):
            patch_embed, blocks, _ = self.stage_modules(i)
            patch_embed.switch_to_deploy()
            for block in blocks:
                block.switch_to_deploy()
        if self.channels_last:
            self.to(memory_format=torch.channels_last)
        self.deploy = True
        return self

    def train(self, mode: bool = True):
        if mode and self.deploy:
            raise RuntimeError(
                'This MogaNet was folded for inference by switch_to_deploy() '
                'and cannot be trained; build a new model (or load the '
                'unfolded checkpoint) to train.')
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for module in self.modules():
                if isinstance(module, _BatchNorm):
                    module.eval()
        return self

    def _run_block(self, block: nn.Module, x: torch.Tensor) -> torch.Tensor:
        if self.with_cp and x.requires_grad:
            return cp.checkpoint(block, x, use_reentrant=False)
        return block(x)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        outs = []
        for i in range(self.num_stages):
            patch_embed, blocks, norm = self.stage_modules(i)
            x = patch_embed(x)
            for block in blocks:
                x = self._run_block(block, x)
            x = norm(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def get_layer_depth(self, param_name: str, prefix: str = ''):
        """Layer id of a parameter for layer-wise learning-rate decay.

        Follows the release's split into ``num_layers`` (12) layers: the stem is
        layer 0, stage 1 layer 2, stage 2 layer 3, the third stage's blocks
        share layers two by two from 3 up to ``num_layers - 1``, stage 4 is
        layer ``num_layers``; anything else (stage norms, necks, heads) is
        ``num_layers + 1``.

        Args:
            param_name (str): Name of the parameter.
            prefix (str): Prefix of backbone parameters in ``param_name``
                (e.g. ``'backbone.'``). Defaults to ''.

        Returns:
            Tuple[int, int]: The layer id and the number of layer ids
            (``num_layers + 2``), so that the lr scale is
            ``decay_rate ** (max_id - layer_id - 1)``.
        """
        num_layers = self.layer_decay_num_layers
        max_id = num_layers + 2
        if not param_name.startswith(prefix):
            return num_layers + 1, max_id
        name = param_name[len(prefix):]
        head, _, rest = name.partition('.')
        if head.startswith('patch_embed'):
            stage = int(head[len('patch_embed'):])
            layer_id = {1: 0, 2: 3, 3: 4}.get(stage, num_layers)
        elif head.startswith('blocks'):
            stage = int(head[len('blocks'):])
            block = int(rest.split('.')[0])
            if stage in (1, 2):
                layer_id = stage + 1
            elif stage == 3:
                layer_id = min(3 + block // 2, num_layers - 1)
            else:
                layer_id = num_layers
        else:
            layer_id = num_layers + 1
        return layer_id, max_id


def _bn_affine(bn: _BatchNorm) -> Tuple[torch.Tensor, torch.Tensor]:
    """(scale, shift) with ``bn(x) == x * scale + shift`` in eval mode."""
    scale = torch.rsqrt(bn.running_var + bn.eps)
    if bn.weight is not None:
        scale = scale * bn.weight
    shift = -bn.running_mean * scale
    if bn.bias is not None:
        shift = shift + bn.bias
    return scale, shift


def _conv_bias(conv: nn.Conv2d) -> torch.Tensor:
    if conv.bias is None:
        conv.bias = nn.Parameter(conv.weight.new_zeros(conv.out_channels))
    return conv.bias


def _fold_bn_into_prev_conv(conv: nn.Conv2d, bn: _BatchNorm):
    """``bn(conv(x))`` -> ``conv'(x)``."""
    scale, shift = _bn_affine(bn)
    conv.weight.mul_(scale.view(-1, 1, 1, 1))
    bias = _conv_bias(conv)
    bias.copy_(bias * scale + shift)


def _fold_affine_into_next_conv(scale, shift, conv: nn.Conv2d):
    """``conv(x * scale + shift)`` -> ``conv'(x)``; exact for a 1x1 conv
    (a wider kernel would see padded zeros that are not shifted)."""
    assert conv.kernel_size == (1, 1) and conv.groups == 1
    bias = _conv_bias(conv)
    bias.add_(conv.weight.flatten(1) @ shift)
    conv.weight.mul_(scale.view(1, -1, 1, 1))


def _scale_conv_output(conv: nn.Conv2d, scale: torch.Tensor):
    """``scale * conv(x)`` -> ``conv'(x)``."""
    conv.weight.mul_(scale.view(-1, 1, 1, 1))
    _conv_bias(conv).mul_(scale)


def _release_init(module: nn.Module):
    """The release's timm-style initialization."""
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=.02)
        if module.bias is not None:
            nn.init.constant_(module.bias, 0)
    elif isinstance(module, (_BatchNorm, nn.GroupNorm, nn.LayerNorm)):
        if module.weight is not None:
            nn.init.constant_(module.weight, 1.0)
            nn.init.constant_(module.bias, 0)
    elif isinstance(module, nn.Conv2d):
        fan_out = module.kernel_size[0] * module.kernel_size[1] * \
            module.out_channels // module.groups
        module.weight.data.normal_(0, math.sqrt(2.0 / fan_out))
        if module.bias is not None:
            module.bias.data.zero_()

# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""RoIAlign that is correct for channels-last inputs and, on CPU, runs with
the channels spread over threads.

mmcv's RoIAlign passes the input to its kernels without making it
contiguous, and the kernels index memory as NCHW, so a channels-last feature
map (a model converted with ``model.to(memory_format=torch.channels_last)``)
gives wrong RoI features without any error.

mmcv's and torchvision's CPU RoIAlign kernels are single-threaded; in a Mask
R-CNN training step on CPU they are about a fifth of the time. Every output
channel depends on one input channel only, so running the channel
groups on separate threads computes exactly the same numbers (bit for bit:
each element sums the same terms in the same order) in a fraction of the
time. torchvision's kernel gives results identical to mmcv's and releases
the GIL, which lets Python threads run it in parallel.
"""
import os
from concurrent.futures import ThreadPoolExecutor
from typing import List

import torch
import torchvision.ops  # noqa: F401 (registers torch.ops.torchvision)
from mmcv.ops import RoIAlign
from mmengine.model import is_model_wrapper
from torch.autograd.function import once_differentiable

_pool = None
_pool_owner = None


def _thread_pool(workers: int) -> ThreadPoolExecutor:
    """One pool per process (a forked child gets its own), resized when
    ``torch.set_num_threads`` changes."""
    global _pool, _pool_owner
    owner = (os.getpid(), workers)
    if _pool is None or _pool_owner != owner:
        if _pool is not None:
            _pool.shutdown(wait=False)
        _pool = ThreadPoolExecutor(workers, thread_name_prefix='roi_align')
        _pool_owner = owner
    return _pool


def _map_channel_groups(fn, tensor: torch.Tensor, groups: int):
    chunks = tensor.chunk(groups, dim=1)
    return torch.cat(list(_thread_pool(groups).map(fn, chunks)), dim=1)


class _ChannelParallelRoIAlign(torch.autograd.Function):

    @staticmethod
    def forward(ctx, input, rois, output_size, spatial_scale, sampling_ratio,
                aligned, groups):
        pooled_h, pooled_w = output_size
        ctx.save_for_backward(rois)
        ctx.args = (spatial_scale, pooled_h, pooled_w, sampling_ratio,
                    aligned, groups)
        ctx.input_shape = input.shape

        def pool(channels):
            return torch.ops.torchvision.roi_align(
                channels, rois, spatial_scale, pooled_h, pooled_w,
                sampling_ratio, aligned)

        return _map_channel_groups(pool, input, groups)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output):
        rois, = ctx.saved_tensors
        spatial_scale, pooled_h, pooled_w, sampling_ratio, aligned, groups = \
            ctx.args
        batch, _, height, width = ctx.input_shape

        def scatter(grad):
            return torch.ops.torchvision._roi_align_backward(
                grad.contiguous(), rois, spatial_scale, pooled_h, pooled_w,
                batch, grad.shape[1], height, width, sampling_ratio, aligned)

        grad_input = _map_channel_groups(scatter, grad_output, groups)
        return grad_input, None, None, None, None, None, None


class ParallelRoIAlign(RoIAlign):
    """mmcv's :class:`~mmcv.ops.RoIAlign` (same arguments, same results
    for NCHW inputs) that also gives the right results for channels-last
    inputs, and on CPU computes ``avg`` pooling of float inputs with the
    channels split over ``torch.get_num_threads()`` threads, forward and
    backward. Anything else (CUDA, ``max`` pooling, half precision, one
    thread) runs mmcv's kernel on an NCHW-contiguous input.
    """

    def forward(self, input: torch.Tensor, rois: torch.Tensor) -> torch.Tensor:
        groups = min(torch.get_num_threads(), input.shape[1])
        if (input.device.type != 'cpu' or self.pool_mode != 'avg'
                or input.dtype not in (torch.float32, torch.float64)
                or groups < 2):
            return super().forward(input.contiguous(), rois)
        return _ChannelParallelRoIAlign.apply(
            input, rois.to(input.dtype), self.output_size,
            self.spatial_scale, self.sampling_ratio, self.aligned, groups)


def mmcv_roi_align_layers(model: torch.nn.Module) -> List[RoIAlign]:
    """The plain mmcv ``RoIAlign`` modules of ``model`` (or of the model a
    wrapper such as DDP holds)."""
    if is_model_wrapper(model):
        model = model.module
    return [m for m in model.modules() if type(m) is RoIAlign]


def use_parallel_roi_align(model: torch.nn.Module) -> int:
    """Turn every mmcv ``RoIAlign`` in ``model`` into a
    :class:`ParallelRoIAlign` (it has no parameters or buffers, so this is a
    class change); returns how many were changed."""
    layers = mmcv_roi_align_layers(model)
    for layer in layers:
        layer.__class__ = ParallelRoIAlign
    return len(layers)

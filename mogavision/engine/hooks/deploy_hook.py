# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""Inference-time optimizations of MogaNet for test runs."""
import torch
import torch._inductor.config as inductor_config
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from mogavision.models import MogaNet
from mogavision.ops import use_parallel_roi_align
from mogavision.registry import HOOKS


@HOOKS.register_module()
class MogaNetDeployHook(Hook):
    """Before testing, folds the BatchNorms and layer scales of every module
    that has ``switch_to_deploy()`` (MogaNet backbones) and optionally moves
    the model to the channels-last memory format. Only for ``test``: the
    folded model cannot train, so validation during training is left alone.

    Args:
        fuse (bool): Fold with ``switch_to_deploy()``. Defaults to True.
        channels_last (bool): Convert the whole model (heads included) to
            ``torch.channels_last``; mmcv RoIAlign layers become
            :class:`~mogavision.ops.ParallelRoIAlign`, which reads
            channels-last inputs correctly. Defaults to False.
        compile (bool): Compile each MogaNet backbone (``nn.Module.compile``)
            with inductor's freezing switched on for the process: weights
            become constants, folded and prepacked for oneDNN on CPU. Best
            with fixed-size inputs (classification, pose); each new input
            size compiles again. Defaults to False.
    """

    priority = 'VERY_HIGH'

    def __init__(self,
                 fuse: bool = True,
                 channels_last: bool = False,
                 compile: bool = False):
        self.fuse = fuse
        self.channels_last = channels_last
        self.compile = compile

    def before_test(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) \
            else runner.model
        if self.fuse:
            folded = []
            for name, module in model.named_modules():
                # re-checked per module: folding a backbone folds its blocks
                if hasattr(module, 'switch_to_deploy') and \
                        getattr(module, 'deploy', None) is False:
                    module.switch_to_deploy()
                    folded.append(name)
            print_log(f'Folded BN and layer scales for inference in: '
                      f'{", ".join(folded) or "(no MogaNet found)"}',
                      logger='current')
        if self.channels_last:
            # mmcv's RoIAlign reads channels-last memory as NCHW
            use_parallel_roi_align(model)
            model.to(memory_format=torch.channels_last)
            for module in model.modules():
                if hasattr(module, 'channels_last'):
                    module.channels_last = True
            print_log('Model converted to channels_last.', logger='current')
        if self.compile:
            # Read when a graph compiles; test runs never train, where frozen
            # weights would be wrong.
            inductor_config.freezing = True
            compiled = []
            for name, module in model.named_modules():
                if isinstance(module, MogaNet):
                    module.compile()
                    compiled.append(name)
            print_log(f'Compiled with inductor freezing: '
                      f'{", ".join(compiled) or "(no MogaNet found)"}',
                      logger='current')

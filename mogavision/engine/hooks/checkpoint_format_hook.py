# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""Checkpoints that load anywhere, and loads that say what they did."""
from typing import Optional

from mmengine.hooks import Hook
from mmengine.model import BaseTTAModel, is_model_wrapper
from mmengine.runner import BaseLoop

from mogavision.checkpoint import (make_portable, prepare_checkpoint,
                                   restore_portable_types)
from mogavision.registry import HOOKS


def runner_dataset_classes(runner) -> Optional[tuple]:
    """Class names of the dataset the runner is about to use (the built
    test, val or train loop's), or None when no loop is built yet or its
    dataset names no classes."""
    for name in ('_test_loop', '_val_loop', '_train_loop'):
        loop = getattr(runner, name, None)
        if isinstance(loop, BaseLoop):
            metainfo = getattr(loop.dataloader.dataset, 'metainfo', {}) or {}
            classes = metainfo.get('classes')
            return tuple(classes) if classes is not None else None
    return None


@HOOKS.register_module()
class CheckpointFormatHook(Hook):
    """Writes checkpoints that a process without mogavision can load, and
    checks every checkpoint the runner loads.

    * Saving: the message hub's ``HistoryBuffer`` s and numpy values in
      ``meta`` become tensors, lists and numbers
      (:func:`~mogavision.checkpoint.make_portable`), so
      ``DetInferencer(model=CONFIG, weights=CKPT)``, ``MMSegInferencer`` or
      ``MMPoseInferencer`` load our checkpoints with torch's default
      ``weights_only=True``; ``--resume`` restores the exact objects.
    * Loading (``load_from``, ``tools/test.py``): OpenMMLab 1.x checkpoints
      (mmdet 2.x, mmseg 0.x, mmpose 0.x) are upgraded to the 2.0 layout, the
      class names are checked against the dataset's, and a key report is
      logged (:func:`~mogavision.checkpoint.prepare_checkpoint`).

    Args:
        allow_class_mismatch (bool): Evaluate a checkpoint trained on other
            class names. Defaults to False.
        allow_missing_keys (bool): Accept a checkpoint that lacks model keys
            (e.g. backbone-only ``load_from``). Defaults to False.
        fine_tuning (bool): ``load_from`` of a training run: other class
            names are reported, head tensors of another size are left at
            their initialisation and listed, missing keys are accepted
            (see :func:`~mogavision.checkpoint.prepare_checkpoint`).
            Defaults to False.
    """

    # Before other hooks read a loaded checkpoint (EMAHook copies its
    # state dict), after the Runner filled a saved one.
    priority = 'VERY_HIGH'

    def __init__(self,
                 allow_class_mismatch: bool = False,
                 allow_missing_keys: bool = False,
                 fine_tuning: bool = False):
        self.allow_class_mismatch = allow_class_mismatch
        self.allow_missing_keys = allow_missing_keys
        self.fine_tuning = fine_tuning

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        make_portable(checkpoint)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if runner._resume:  # our own checkpoint, to continue exactly
            restore_portable_types(checkpoint)
            return
        model = runner.model
        # What mmengine loads into: inside (D)DP and test-time augmentation.
        while is_model_wrapper(model) or isinstance(model, BaseTTAModel):
            model = model.module
        prepare_checkpoint(
            checkpoint, model, source=str(runner._load_from),
            dataset_classes=runner_dataset_classes(runner),
            allow_class_mismatch=self.allow_class_mismatch,
            allow_missing_keys=self.allow_missing_keys,
            fine_tuning=self.fine_tuning,
            logger=runner.logger)

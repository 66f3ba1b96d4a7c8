# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""Checkpointing that a kill at any moment cannot corrupt.

mmengine's ``CheckpointHook`` (0.10.7) writes a checkpoint straight to its
final name, writes ``last_checkpoint`` in place, and deletes the oldest kept
checkpoint *before* writing the new one. A kill during the write therefore
leaves a truncated ``iter_N.pth`` and, with ``max_keep_ckpts=1``, no complete
checkpoint at all.
"""
import os.path as osp
from typing import List

from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend, register_backend
from mmengine.hooks import CheckpointHook
from mmengine.logging import print_log

from mogavision.fileio import atomic_write, remove_partial_files
from mogavision.registry import HOOKS

#: Name of :class:`AtomicLocalBackend` in mmengine's file backends.
ATOMIC_LOCAL_BACKEND = 'mogavision_atomic_local'


class AtomicLocalBackend(LocalBackend):
    """mmengine's local file backend with atomic ``put``/``put_text``."""

    def put(self, obj: bytes, filepath) -> None:
        atomic_write(obj, str(filepath))

    def put_text(self, obj: str, filepath, encoding: str = 'utf-8') -> None:
        atomic_write(obj.encode(encoding), str(filepath))


register_backend(ATOMIC_LOCAL_BACKEND, AtomicLocalBackend, force=True)


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """``CheckpointHook`` that never leaves a truncated checkpoint and never
    deletes the last complete one before the next is written.

    Same arguments and files as mmengine's ``CheckpointHook``. For a local
    ``out_dir`` (the default: the work dir), checkpoints and
    ``last_checkpoint`` are written atomically (partial file + rename), and
    checkpoints beyond ``max_keep_ckpts`` are removed only after the new one
    is complete. ``tools/train.py`` uses it in place of ``CheckpointHook``.
    """

    def before_train(self, runner) -> None:
        out_dir = self.out_dir or runner.work_dir
        if self.backend_args is None and self.file_client_args is None \
                and '://' not in out_dir:
            self.backend_args = dict(backend=ATOMIC_LOCAL_BACKEND)
        super().before_train(runner)
        if is_main_process() and '://' not in self.out_dir:
            for path in remove_partial_files(self.out_dir):
                runner.logger.warning(
                    f'Removed {path}, a checkpoint whose writing was killed.')

    def _save_checkpoint_with_step(self, runner, step, meta):
        outdated = self._keep_step(runner, step)
        filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.save_checkpoint(
            self.out_dir,
            filename,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args)
        if not is_main_process():
            return
        atomic_write(self.last_ckpt, osp.join(runner.work_dir,
                                              'last_checkpoint'))
        for old_step in outdated:
            self._remove_checkpoint(self.filename_tmpl.format(old_step))

    def _keep_step(self, runner, step) -> List[int]:
        """Record ``step`` among the kept checkpoints (as mmengine does, so
        resumed runs keep counting) and return the steps it retires."""
        if self.max_keep_ckpts <= 0 or (self.keep_ckpt_ids
                                        and self.keep_ckpt_ids[-1] == step):
            return []
        retired = []
        while len(self.keep_ckpt_ids) >= self.max_keep_ckpts:
            retired.append(self.keep_ckpt_ids.popleft())
        self.keep_ckpt_ids.append(step)
        runner.message_hub.update_info('keep_ckpt_ids',
                                       list(self.keep_ckpt_ids))
        return retired

    def _remove_checkpoint(self, filename: str):
        path = self.file_backend.join_path(self.out_dir, filename)
        if self.file_backend.isfile(path):
            self.file_backend.remove(path)
        elif self.file_backend.isdir(path):  # deepspeed checkpoints
            self.file_backend.rmtree(path)
        print_log(f'Removed the outdated checkpoint {path}.', logger='current')

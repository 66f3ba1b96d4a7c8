# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""Exact resume: training iterations draw from their own torch random
stream, and checkpoints carry it."""
import torch
from mmengine.hooks import Hook
from mmengine.logging import print_log

from mogavision.registry import HOOKS


def _get_state() -> dict:
    return dict(torch=torch.get_rng_state(),
                cuda=torch.cuda.get_rng_state_all()
                if torch.cuda.is_available() else [])


def _set_state(state: dict):
    torch.set_rng_state(state['torch'])
    if torch.cuda.is_available() and state['cuda']:
        torch.cuda.set_rng_state_all(state['cuda'])


@HOOKS.register_module()
class RandomStateCheckpointHook(Hook):
    """Gives training iterations a torch random stream of their own and saves
    it in every checkpoint, so a resumed run draws the same drop-path masks
    as an uninterrupted one.

    mmengine's resume restores weights, optimizer, schedulers and the data
    order, but not torch's random state. Restoring the global state alone is
    not enough: building dataloader iterators (a new epoch, validation) also
    draws from it, at different moments in a resumed and an uninterrupted
    run. So the stream used inside ``train_step`` is swapped in around each
    iteration and kept apart from everything else.
    """

    # HIGHEST: swap the stream in before, and out before the checkpoint hook.
    priority = 'HIGHEST'

    def __init__(self):
        self._iter_state = None
        self._outer_state = None

    def before_train(self, runner) -> None:
        if self._iter_state is None:  # fresh run: start from the seeded state
            self._iter_state = _get_state()

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        self._outer_state = _get_state()
        _set_state(self._iter_state)

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        self._iter_state = _get_state()
        _set_state(self._outer_state)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if self._iter_state is not None:
            checkpoint['random_state'] = self._iter_state

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if not runner._resume:  # load_from (fine-tuning) starts fresh
            return
        if 'random_state' in checkpoint:
            self._iter_state = checkpoint['random_state']
        else:
            print_log('The resumed checkpoint has no random_state; drop-path '
                      'masks will differ from an uninterrupted run.',
                      logger='current', level=30)

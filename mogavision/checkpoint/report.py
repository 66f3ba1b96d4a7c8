# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""What loading a state dict into a model uses, drops and leaves: the one
key report of backbone and whole-model loading."""
from typing import Dict, List, NamedTuple

import torch

#: Tensors an error message lists at most (the log has them all).
MAX_LISTED = 10
#: Top-level model parts that are no head: a tensor of another size there
#: means another architecture, never another class or keypoint count.
NON_HEAD_ROOTS = ('backbone', 'neck', 'data_preprocessor')


class LoadReport(NamedTuple):
    """What loading a state dict into a model uses and leaves."""
    used: List[str]
    dropped: Dict[str, str]  #: checkpoint key -> why it is not loaded
    missing: List[str]  #: model keys the checkpoint does not have
    mismatched: List[str]  #: 'key: checkpoint (..) vs model (..)'
    #: head tensors of another size, left at their initialisation
    #: (fine-tuning), as 'key: checkpoint (..) vs model (..)'
    reinitialised: List[str] = []

    def summary(self, source: str) -> str:
        total = (len(self.used) + len(self.dropped) + len(self.mismatched) +
                 len(self.reinitialised))
        lines = [f'{source}: {len(self.used)} of {total} checkpoint tensors '
                 f'loaded; {len(self.missing)} model keys missing']
        for key, why in self.dropped.items():
            lines.append(f'  dropped {key}: {why}')
        for line in self.mismatched:
            lines.append(f'  shape mismatch {line}')
        for key in self.missing:
            lines.append(f'  missing {key}')
        if self.reinitialised:
            lines.append(
                f'  fine-tuning: {len(self.reinitialised)} head tensors of '
                'another size (another class or keypoint count) are left at '
                'their initialisation:')
            lines += [f'    {line}' for line in self.reinitialised]
        return '\n'.join(lines)


def _why_dropped(key: str, own: dict) -> str:
    root = key.split('.', 1)[0]
    if not any(k.startswith(root + '.') for k in own):
        return f'this model has no {root}'
    if key.endswith('num_batches_tracked'):
        return 'BN step counter that this model\'s norm layer does not keep'
    return 'this model has no such parameter or buffer'


def key_report(state_dict: Dict[str, torch.Tensor],
               model: torch.nn.Module,
               reinit_heads: bool = False) -> LoadReport:
    """Every key of ``state_dict`` as used, dropped (with the reason) or
    mismatched against ``model``, and the model keys it lacks. With
    ``reinit_heads``, head tensors (outside :data:`NON_HEAD_ROOTS`) of
    another shape are listed as ``reinitialised``, not ``mismatched``."""
    own = model.state_dict()
    used, dropped, mismatched, reinitialised = [], {}, [], []
    for key, value in state_dict.items():
        if key not in own:
            dropped[key] = _why_dropped(key, own)
        elif hasattr(value, 'shape') and value.shape != own[key].shape:
            is_head = key.split('.', 1)[0] not in NON_HEAD_ROOTS
            (reinitialised if reinit_heads and is_head else mismatched).append(
                f'{key}: checkpoint {tuple(value.shape)} vs '
                f'model {tuple(own[key].shape)}')
        else:
            used.append(key)
    missing = [k for k in own if k not in state_dict]
    return LoadReport(used, dropped, missing, mismatched, reinitialised)

# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""The class names a checkpoint was trained on, against a dataset's."""
from typing import Optional


def checkpoint_classes(checkpoint: dict) -> Optional[tuple]:
    """The class names a checkpoint was trained on (2.0 ``dataset_meta`` or
    1.x ``CLASSES``), or None when it does not say."""
    meta = checkpoint.get('meta') if isinstance(checkpoint, dict) else None
    if not isinstance(meta, dict):
        return None
    classes = (meta.get('dataset_meta') or {}).get('classes', meta.get(
        'CLASSES'))
    return tuple(classes) if classes is not None else None


class ClassMismatchError(ValueError):
    """A checkpoint's class names differ from the dataset's."""


def describe_class_change(checkpoint_classes_: Optional[tuple],
                          dataset_classes: Optional[tuple],
                          source: str) -> Optional[str]:
    """How the dataset's class names differ from a checkpoint's (both named,
    with the first difference), or None when they agree or one is
    unknown."""
    if checkpoint_classes_ is None or dataset_classes is None:
        return None
    ours, theirs = tuple(checkpoint_classes_), tuple(dataset_classes)
    if ours == theirs:
        return None
    first = next((i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b),
                 min(len(ours), len(theirs)))
    at = (f'first difference at index {first}: {ours[first]!r} vs '
          f'{theirs[first]!r}' if first < min(len(ours), len(theirs)) else
          f'the same first {first} names')
    return (f'{source} was trained on {len(ours)} classes '
            f'{list(ours[:4])}... but the dataset has {len(theirs)} '
            f'{list(theirs[:4])}... ({at})')


def check_classes(checkpoint_classes_: Optional[tuple],
                  dataset_classes: Optional[tuple], source: str):
    """Raise when both class lists are known and differ, naming both."""
    change = describe_class_change(checkpoint_classes_, dataset_classes,
                                   source)
    if change is not None:
        raise ClassMismatchError(
            f'{change}. Evaluate it on the dataset it was trained for (or set '
            'the dataset\'s metainfo classes to match), or override the check '
            'with --allow-class-mismatch. (Fine-tuning it on other classes '
            'with tools/train.py needs no flag: head tensors of another size '
            'are re-initialised.)')

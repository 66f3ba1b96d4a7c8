# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""Image classification with a ``configs/cls`` config and a checkpoint, via
mmpretrain's ``ImageClassificationInferencer``."""
from typing import List, Optional, Union

import numpy as np
from mmengine.config import Config
from mmengine.registry import DefaultScope


def init_classifier(config: Union[str, Config],
                    checkpoint: str,
                    device: str = 'cpu',
                    cfg_options: Optional[dict] = None):
    """Build an ``ImageClassificationInferencer`` from a config and a
    checkpoint (e.g. one written by
    ``tools/model_converters/moganet_to_mogavision.py``).

    Args:
        config (str | Config): A cls config file or object.
        checkpoint (str): Checkpoint file, URL or
            ``mogavision://<config name>`` (the release's weights).
        device (str): Device to run on. Defaults to 'cpu'.
        cfg_options (dict, optional): Overrides merged into the config.

    Returns:
        ImageClassificationInferencer: Class names come from the
        checkpoint's ``meta.dataset_meta`` or else the config's dataset.
    """
    import mogavision.models  # noqa: F401  (registers MogaNet)
    from mmpretrain.apis import ImageClassificationInferencer
    from mogavision.engine.runtime import check_checkpoint_source
    check_checkpoint_source(checkpoint)
    cfg = Config.fromfile(config) if isinstance(config, str) else \
        config.copy()
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    # The inferencer builds its pipeline in the current default scope, which
    # another Runner or toolbox call in this process may have changed.
    with DefaultScope.overwrite_default_scope(
            cfg.get('default_scope', 'mmpretrain')):
        return ImageClassificationInferencer(
            model=cfg, pretrained=checkpoint, device=device)


def classify_image(inferencer, image: Union[str, np.ndarray],
                   topk: int = 5) -> List[dict]:
    """The ``topk`` classes of one image, best first.

    Args:
        inferencer (ImageClassificationInferencer): See
            :func:`init_classifier`.
        image (str | np.ndarray): Image file or BGR array.
        topk (int): How many classes (at most the number of classes).
            Defaults to 5.

    Returns:
        list[dict]: ``label`` (int), ``class_name`` (str) and ``score``
        (float) per class.
    """
    scores = inferencer(image)[0]['pred_scores']
    classes = inferencer.classes
    labels = np.argsort(-scores, kind='stable')[:topk]
    return [
        dict(label=int(i), score=float(scores[i]),
             class_name=str(classes[i]) if classes is not None
             and i < len(classes) else str(i)) for i in labels
    ]

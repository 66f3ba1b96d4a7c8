# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""High-level inference APIs."""
from .classification import classify_image, init_classifier
from .pose import (detect_people, draw_pose, inference_pose, init_pose_model,
                   init_person_detector)

__all__ = [
    'classify_image', 'init_classifier', 'detect_people', 'draw_pose',
    'inference_pose', 'init_pose_model', 'init_person_detector'
]

# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""Analysis of mogavision models: complexity, the tensor wrappers that
benchmarks, exporters and analysis tools share, and the
visual analyses (multi-order interaction strength, class activation maps,
effective receptive fields)."""
from .complexity import complexity
from .forward import LossForward, TensorForward
from .models import PAPER_SHAPES, default_shape, input_channels
from .cam import (CAM_METHODS, FeatureMaps, check_target_layers, compute_cam,
                  default_target_layer, find_layer, overlay_cam)
from .erf import (ERF_THRESHOLDS, area_ratios, erf_map, layer_features,
                  log_normalise, stage_features)
from .inputs import (ImageInputs, list_images, load_analysis_model,
                     model_fingerprint, read_labels)
from .interaction import (DEFAULT_RATIOS, InteractionSettings, context_masks,
                          curves_csv, estimate_interactions,
                          interaction_curve, interaction_orders, log_odds,
                          masked_log_odds, run_images, sample_contexts,
                          sample_pairs)
from .plots import plot_erf, plot_interaction_curves

__all__ = [
    'PAPER_SHAPES', 'LossForward', 'TensorForward', 'complexity',
    'default_shape', 'input_channels',
    # visual analysis: interaction strength, CAM, ERF
    'CAM_METHODS', 'DEFAULT_RATIOS', 'ERF_THRESHOLDS', 'FeatureMaps',
    'ImageInputs', 'InteractionSettings', 'area_ratios', 'check_target_layers',
    'compute_cam', 'context_masks', 'curves_csv', 'default_target_layer',
    'erf_map', 'estimate_interactions', 'find_layer', 'interaction_curve',
    'interaction_orders', 'layer_features', 'list_images',
    'load_analysis_model', 'log_normalise', 'log_odds', 'masked_log_odds',
    'model_fingerprint', 'overlay_cam', 'plot_erf', 'plot_interaction_curves',
    'read_labels', 'run_images', 'sample_contexts',
    'sample_pairs', 'stage_features'
]

# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""Deployment: whole models exported to ONNX (:mod:`.export`), served by ONNX
Runtime and OpenVINO (:mod:`.backends`) and turned back into the toolboxes'
data samples, so that the Runner, evaluators and visualizers run on them
(:mod:`.runner`).

The per-task pieces are export families (:mod:`.base`); the toolbox-specific
modules are imported only when a config needs them.
"""
from .backends import (DeployedModel, build_backend, inference_deployed,
                       init_deployed_model)
from .base import (FAMILIES, FAMILY_MODULES, ExportFamily, family_for,
                   get_family, register_family, supported_families)
from .export import export_backbone, export_model, read_export_meta

__all__ = [
    'DeployedModel', 'ExportFamily', 'FAMILIES', 'FAMILY_MODULES',
    'build_backend', 'export_backbone', 'export_model', 'family_for',
    'get_family', 'inference_deployed', 'init_deployed_model',
    'read_export_meta', 'register_family', 'supported_families'
]

# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""What an INT8 model keeps in float: each export family's
:class:`Int8Recipe`, turned into NNCF's ``IgnoredScope`` for one graph.

Three ways to name nodes, all read from the fp32 graph, none editing it:

* the **output tail** (:func:`output_tail`): every node after the last
  layer with weights (softmax, the final resize and argmax, flip-test
  averaging, decoding), by the graph's topology;
* the **export family's own code** (:func:`outside_model`): nodes outside
  every module of the toolbox model (a detector's box decoding, top-k,
  NMS, RoIAlign), by the module names torch's dynamo exporter records;
* **modules by path** (:func:`nodes_of_modules`, ``--float-modules``).
"""
import ast
import re
from dataclasses import dataclass, field, replace
from typing import Dict, List, Optional, Tuple

#: NNCF presets offered
PRESETS = ('performance', 'mixed')


#: ONNX operators with learned weights (the output tail follows the last)
COMPUTE_OPS = ('Conv', 'ConvTranspose', 'Gemm', 'MatMul')


@dataclass(frozen=True)
class Int8Recipe:
    """How a family is quantized, in NNCF's terms.

    Attributes:
        preset (str): NNCF preset: ``performance`` (symmetric weights and
            activations) or ``mixed`` (asymmetric activations).
        float_types (tuple[str]): ONNX operation types kept in float
            (``IgnoredScope(types=...)``).
        float_tail (bool): Keep in float the graph's output tail, the
            nodes after the last layer with weights (:func:`output_tail`,
            given to NNCF as ``IgnoredScope(names=...)``): softmax, the
            final resize and argmax, flip-test averaging, decoding.
        float_outside_model (bool): Keep in float every node that the
            export family's own code adds around the toolbox model's
            modules (:func:`outside_model`: box decoding, NMS, RoIAlign,
            top-k between the heads), by the exporter's name scopes.
        fallback_types (tuple[str]): ``float_types`` used instead of
            ``float_outside_model`` for a graph without name scopes (the
            legacy exporter's).
        float_modules (tuple[str]): Regular expressions of toolbox module
            paths (e.g. ``model.roi_head.bbox_head.fc_reg``) whose nodes
            stay in float (:func:`nodes_of_modules`); each must match.
        float_blocks (tuple[str]): Like ``float_modules``, for the
            family's defaults: kept in float where the graph has them (a
            config with another backbone has no MogaNet blocks).
        why (str): Why, for the JSON and the docs.
        options (dict): Further ``nncf.quantize`` arguments.
    """

    preset: str = 'performance'
    float_types: Tuple[str, ...] = ()
    float_tail: bool = True
    float_outside_model: bool = False
    fallback_types: Tuple[str, ...] = ()
    float_modules: Tuple[str, ...] = ()
    float_blocks: Tuple[str, ...] = ()
    why: str = ''
    options: Dict[str, object] = field(default_factory=dict)


#: postprocessing inside detection graphs before the RoI heads' layers (so
#: not in the output tail): box decoding, clipping, top-k, NMS, RoIAlign;
#: by type, for graphs without name scopes
_DETECTION_FLOAT = (
    'NonMaxSuppression', 'RoiAlign', 'TopK', 'Softmax', 'Sigmoid', 'Exp',
    'Div', 'Sub', 'Less', 'LessOrEqual', 'Greater', 'GreaterOrEqual',
    'Equal', 'Max', 'Min', 'Clip', 'Where', 'Pow', 'Sqrt', 'Log', 'Floor',
    'Ceil', 'ReduceMax', 'ReduceMin')
_TAIL_WHY = ('the output tail after the last layer with weights ({}) '
             'computes scores, labels or coordinates that 8 bits cannot '
             'carry, for no speed')
_DETECTION_WHY = _TAIL_WHY.format('mask sigmoid') + '; likewise the '\
    'code between the heads (box decoding, clipping, top-k, NMS, RoIAlign)'\
    ': only the layers of the toolbox model (backbone, neck, heads) are '\
    'quantized'

#: MogaNet's spatial aggregation (gating, multi-order dilated depthwise
#: convolutions) in every block
MOGANET_SPATIAL = r'model\.backbone\.blocks\d+\.\d+\.attn'

#: Detection also keeps MogaNet's spatial aggregation in float: on the
#: demo Mask R-CNN it cut the drop from 2.0/1.2 to 0.7/0.7 box/mask mAP
#: points, and OpenVINO ran the graph no slower (docs/int8.md)
_DETECTION = Int8Recipe(float_outside_model=True,
                        fallback_types=_DETECTION_FLOAT,
                        float_blocks=(MOGANET_SPATIAL, ),
                        why=_DETECTION_WHY + '; and MogaNet\'s spatial '
                        'aggregation blocks (gates, multi-order depthwise '
                        'convolutions), whose quantization cost a point '
                        'of box mAP for no speed')

#: family name -> recipe. The preset is NNCF's default for convolutional
#: networks (performance): on the synthetic-data MogaNet-XT classifier it
#: kept top-1 (100.0 -> 100.0 on 200 held-out images) where mixed lost a
#: point (99.0); see docs/int8.md.
RECIPES: Dict[str, Int8Recipe] = {
    'cls': Int8Recipe(why=_TAIL_WHY.format('softmax')),
    'retinanet': _DETECTION,
    'mask_rcnn': _DETECTION,
    'cascade_mask_rcnn': _DETECTION,
    'encoder_decoder': Int8Recipe(
        why=_TAIL_WHY.format('resize to the input and argmax')),
    'topdown_heatmap': Int8Recipe(
        why=_TAIL_WHY.format('flip-test averaging and shift, keypoint '
                             'decoding')),
}

def recipe_for(family_name: Optional[str], preset: Optional[str] = None,
               float_modules: Tuple[str, ...] = ()) -> Int8Recipe:
    """The family's recipe (a plain one for a backbone, ``None``), with
    ``preset`` when given and ``float_modules`` added."""
    recipe = RECIPES.get(family_name, Int8Recipe(
        why=_TAIL_WHY.format('none for a backbone')))
    if preset is not None:
        if preset not in PRESETS:
            raise ValueError(f'preset {preset!r} is not one of {PRESETS}')
        recipe = replace(recipe, preset=preset)
    if float_modules:
        recipe = replace(recipe, float_modules=tuple(
            recipe.float_modules) + tuple(float_modules), why=recipe.why +
            f'; asked: modules {", ".join(float_modules)}')
    return recipe


def output_tail(model) -> List[str]:
    """Names of the nodes after the last layer with weights: every node
    from which no :data:`COMPUTE_OPS` node can be reached (ONNX graphs are
    topologically sorted, so one backward pass finds them)."""
    consumers = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    feeds_compute = {}
    for node in reversed(model.graph.node):
        feeds_compute[id(node)] = any(
            c.op_type in COMPUTE_OPS or feeds_compute.get(id(c), False)
            for out in node.output for c in consumers.get(out, ()))
    return [node.name for node in model.graph.node
            if node.name and node.op_type not in COMPUTE_OPS and
            not feeds_compute[id(node)]]


#: the attribute under which export families keep the toolbox model
MODEL_SCOPE = 'model'


def _name_scopes(node) -> Optional[List[str]]:
    """The module path of a node (torch's dynamo exporter records it), None
    when the graph has none."""
    for prop in node.metadata_props:
        if prop.key == 'pkg.torch.onnx.name_scopes':
            return list(ast.literal_eval(prop.value))
    return None


def outside_model(model) -> Optional[List[str]]:
    """Names of the nodes outside every module of the toolbox model (the
    export family's own code), by their name scopes; None for a graph
    without name scopes."""
    names, scoped = [], False
    for node in model.graph.node:
        scopes = _name_scopes(node)
        if scopes is None:
            continue
        scoped = True
        inside = any(s == MODEL_SCOPE or s.startswith(MODEL_SCOPE + '.')
                     for s in scopes)
        if node.name and not inside:
            names.append(node.name)
    return names if scoped else None


def nodes_of_modules(model, patterns, strict: bool = True) -> List[str]:
    """Names of the nodes inside a module (or its submodules) whose path
    matches one of the regular expressions ``patterns`` (by the
    exporter's name scopes).

    Raises:
        ValueError: With ``strict``, the graph has no name scopes, or a
            pattern matches no module (a misspelled path would quantize
            silently).
    """
    compiled = [re.compile(rf'(?:{p})(?:\..+)?') for p in patterns]
    names, used = [], set()
    scoped = False
    for node in model.graph.node:
        scopes = _name_scopes(node)
        if scopes is None:
            continue
        scoped = True
        for pattern in compiled:
            if any(pattern.fullmatch(scope) for scope in scopes):
                used.add(pattern)
                if node.name:
                    names.append(node.name)
                break
    if not strict:
        return names
    if compiled and not scoped:
        raise ValueError('Keeping modules in float needs the module names '
                         'that torch\'s dynamo exporter records; this graph '
                         'has none (legacy exporter?).')
    unused = [p for p, c in zip(patterns, compiled) if c not in used]
    if unused:
        raise ValueError(f'No module of the graph matches {unused} (full '
                         'module paths such as model.backbone.blocks4.0 or '
                         'model.roi_head.bbox_head.fc_reg).')
    return names


def ignored_scope(model, recipe: Int8Recipe) -> dict:
    """The recipe as ``nncf.IgnoredScope`` arguments for this graph."""
    types = list(recipe.float_types)
    names = output_tail(model) if recipe.float_tail else []
    if recipe.float_outside_model:
        outside = outside_model(model)
        if outside is None:
            types += [t for t in recipe.fallback_types if t not in types]
        else:
            names += [n for n in outside if n not in set(names)]
    for patterns, strict in ((recipe.float_blocks, False),
                             (recipe.float_modules, True)):
        if patterns:
            known = set(names)
            names += [n for n in nodes_of_modules(model, patterns, strict)
                      if n not in known]
    return dict(types=types, names=names)


def kept_in_float(model, recipe: Int8Recipe) -> dict:
    """What the recipe keeps in float in this graph: the operation types
    it holds, and the types (with counts) of the nodes kept by name."""
    present = {node.op_type for node in model.graph.node}
    scope = ignored_scope(model, recipe)
    by_name = {node.name: node.op_type for node in model.graph.node}
    nodes = {}
    for name in scope['names']:
        nodes[by_name[name]] = nodes.get(by_name[name], 0) + 1
    return dict(types=[t for t in scope['types'] if t in present],
                nodes=dict(sorted(nodes.items(), key=lambda kv: -kv[1])),
                why=recipe.why)


def describe_float(kept: dict) -> str:
    """One line: what stays float."""
    parts = []
    if kept['nodes']:
        parts.append(f'{sum(kept["nodes"].values())} nodes (' + ', '.join(
            f'{n} {t}' for t, n in kept['nodes'].items()) + ')')
    if kept['types']:
        parts.append('every ' + ', '.join(kept['types']))
    return '; '.join(parts) or 'nothing'

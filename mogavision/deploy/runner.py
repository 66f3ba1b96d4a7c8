# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""The Runner of a config with an exported model in place of the PyTorch
one: the config's test dataloader, evaluator, default hooks (logging,
visualization) and visualizer, unchanged."""
from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.runner import Runner

from .backends import DeployedModel

#: custom hooks that change or swap a PyTorch model's weights or modules;
#: an exported graph has its weights (EMA or not, folded or not) baked in
#: at export time, so they do not apply
WEIGHT_HOOKS = ('EMAHook', 'MogaNetDeployHook', 'ParallelRoIAlignHook',
                'RandomStateCheckpointHook')


def build_deployed_runner(cfg: Config, model_file: str,
                          backend: str = 'onnxruntime', device: str = 'cpu',
                          precision: str = 'fp32',
                          **backend_options) -> Runner:
    """A test Runner for ``cfg`` whose model is ``model_file`` on
    ``backend`` (a :class:`DeployedModel`).

    ``cfg`` is the prepared test config (``--cfg-options``, work dir,
    visualization already applied, as ``tools/test.py`` does); its
    ``model`` is used only for the data preprocessor and to check that the
    export fits it.
    """
    model = DeployedModel(cfg, model_file, backend=backend, device=device,
                          precision=precision, **backend_options)
    hooks = []
    for hook in cfg.get('custom_hooks') or []:
        if str(hook.get('type')).split('.')[-1] in WEIGHT_HOOKS:
            print_log(f'{hook["type"]} skipped: the exported model\'s '
                      'weights are fixed at export.', logger='current')
        else:
            hooks.append(hook)
    return Runner(
        model=model,
        work_dir=cfg['work_dir'],
        test_dataloader=cfg.get('test_dataloader'),
        test_cfg=cfg.get('test_cfg') or dict(type='TestLoop'),
        test_evaluator=cfg.get('test_evaluator'),
        default_hooks=cfg.get('default_hooks'),
        custom_hooks=hooks,
        launcher=cfg.get('launcher', 'none'),
        env_cfg=cfg.get('env_cfg', dict(dist_cfg=dict(backend='nccl'))),
        log_processor=cfg.get('log_processor'),
        log_level=cfg.get('log_level', 'INFO'),
        visualizer=cfg.get('visualizer'),
        default_scope=cfg.get('default_scope', 'mmengine'),
        randomness=cfg.get('randomness', dict(seed=None)),
        experiment_name=cfg.get('experiment_name'),
        cfg=cfg)

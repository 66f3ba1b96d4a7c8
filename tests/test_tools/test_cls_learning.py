"""MogaNet-XT from configs/cls learns the synthetic colour/shape task: after
48 iterations (batch 16, 32x32 images, 4 classes) its top-1 on held-out
images is >= 80% (100% when written), while the same model untrained scores
about chance (25%; 18.75% when written)."""
from mmengine.config import Config
from mmengine.runner import Runner

from mogavision.datasets.synthetic import write_imagenet

CONFIG = 'configs/cls/moganet_xt_224.py'
ITERS = 48


def learning_config(repo_root, data_root, work_dir):
    """The XT config shrunk to a short, plain run: 32x32 inputs without
    RandAugment/mixup (too strong for 48 iterations), a 10-iteration warmup
    and no checkpoints."""
    cfg = Config.fromfile(f'{repo_root}/{CONFIG}')
    train_pipeline = [dict(type='LoadImageFromFile'),
                      dict(type='RandomFlip', prob=0.5),
                      dict(type='PackInputs')]
    test_pipeline = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]
    for split, pipeline in (('train', train_pipeline),
                            ('test', test_pipeline)):
        loader = cfg[f'{split}_dataloader']
        loader.dataset.update(data_root=data_root, pipeline=pipeline)
        loader.update(batch_size=16, num_workers=0)
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    cfg.model.head.num_classes = cfg.data_preprocessor.num_classes = 4
    cfg.model.train_cfg = None
    cfg.test_evaluator.topk = (1, )
    cfg.optim_wrapper.optimizer.lr = 2e-3
    cfg.train_cfg = dict(by_epoch=False, max_iters=ITERS)
    cfg.param_scheduler = [
        dict(type='LinearLR', start_factor=0.1, by_epoch=False, end=10)]
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=-1,
                                        save_last=False)
    cfg.default_hooks.logger.interval = 8
    cfg.randomness = dict(seed=0)
    cfg.work_dir = work_dir
    return cfg


def test_moganet_xt_learns_synthetic_imagenet(repo_root, tmp_path):
    data_root = str(tmp_path / 'data')
    write_imagenet(data_root, splits={'train': 32, 'val': 16},
                   num_classes=4, image_size=32)
    runner = Runner.from_cfg(
        learning_config(repo_root, data_root, str(tmp_path / 'work')))

    untrained = runner.test()['accuracy/top1']
    runner.train()
    trained = runner.test()['accuracy/top1']
    print(f'MogaNet-XT top-1: untrained {untrained:.2f}%, after {ITERS} '
          f'iterations {trained:.2f}%')

    assert untrained <= 50, untrained
    assert trained >= 80, (untrained, trained)

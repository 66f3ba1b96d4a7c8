# toy_moganet_cls with the test-only hooks of tests/data/tool_test_hooks.py
# (needs tests/data on PYTHONPATH).
_base_ = './toy_moganet_cls.py'
custom_imports = dict(imports=['tool_test_hooks'], allow_failed_imports=False)
custom_hooks = [
    dict(type='DumpRankWeightsHook'),
    # acts only when MOGAVISION_TEST_KILL=1
    dict(type='SigkillAfterIterHook', kill_after=4),
]

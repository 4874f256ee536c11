"""TEST ONLY: a real, deliberate slowdown of host ONNX Runtime runs, for the release-gate end to
end test (tests/integration/test_gate_e2e.py).

Python imports ``sitecustomize`` at start-up from ``sys.path``. The test puts this folder on
PYTHONPATH and sets ``EDGELAB_TEST_SLOWDOWN_MS`` for one pytest run; every Python process of that
run, the measuring child processes included (``python -m harness.engines.child``), then computes
(busy-waits) that long after each ONNX Runtime invoke, inside the timed region, as a slower model
would (a sleep would add the scheduler's wake-up jitter): the cell really takes longer, under
the same comparison key (same model file, engine, threads, device). Nothing in ``harness/`` reads
either variable, so a production run cannot be slowed by accident.
"""
import os

_DELAY_MS = os.environ.get("EDGELAB_TEST_SLOWDOWN_MS")

if _DELAY_MS:
    import importlib.abc
    import importlib.machinery
    import sys
    import time

    _DELAY_S = float(_DELAY_MS) / 1000.0
    _TARGET = "harness.engines.onnxruntime"

    class _SlowOnnxRuntime(importlib.abc.MetaPathFinder):
        """Wraps ``_OrtModel.invoke`` once the engine module has loaded."""

        def find_spec(self, name, path, target=None):
            if name != _TARGET:
                return None
            spec = importlib.machinery.PathFinder.find_spec(name, path)
            if spec is None or spec.loader is None:
                return spec
            load = spec.loader.exec_module

            def exec_module(module):
                load(module)
                invoke = module._OrtModel.invoke

                def slowed(model):
                    invoke(model)
                    until = time.perf_counter() + _DELAY_S
                    while time.perf_counter() < until:
                        pass

                module._OrtModel.invoke = slowed

            spec.loader.exec_module = exec_module
            return spec

    sys.meta_path.insert(0, _SlowOnnxRuntime())

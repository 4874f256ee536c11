"""ncnn (pip ``ncnn``) on the host; benchncnn on phones.

An ncnn artifact is a ``.param`` path with its ``.bin`` beside it (same stem). ncnn's .param
names inputs (in0, ...) but not their shapes, so the build writes ``<stem>.inputs.json`` with
the shapes pnnx traced; without it inputs are taken as NCHW images of the manifest's size.
ncnn works on one image at a time: the batch dimension is dropped on the way in and comes back
missing on the way out (outputs are C,H,W), which the fidelity check allows for.
"""
from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any

from .base import Support, TensorSpec, dist_version, format_support


def _cpu_flags() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def _backend(opt) -> str:
    """What ncnn will really do: its fp16 storage on x86 needs F16C, fp16 *arithmetic* only
    exists on ARMv8.2, so an FP16 model computes in fp32 here and that must show."""
    arm = platform.machine().lower() in ("aarch64", "arm64", "armv7l")
    flags = _cpu_flags()
    fp16_storage = opt.use_fp16_storage and (arm or "f16c" in flags)
    fp16_arith = opt.use_fp16_arithmetic and arm and bool({"fphp", "asimdhp"} & flags)
    parts = [f"cpu {opt.num_threads} thread(s)", "vulkan off",
             f"fp16 storage {'on' if fp16_storage else 'off'}",
             f"fp16 arithmetic {'on' if fp16_arith else 'off (fp32 compute)'}"]
    return ", ".join(parts)


class _NcnnModel:
    def __init__(self, path: str, threads: int):
        import ncnn

        param = Path(path)
        binfile = param.with_suffix(".bin")
        if param.suffix != ".param" or not binfile.is_file():
            raise FileNotFoundError(f"an ncnn model is a .param with its .bin beside it; "
                                    f"missing {binfile.name}")
        self._ncnn = ncnn
        self.net = ncnn.Net()
        self.net.opt.num_threads = threads
        self.net.opt.use_vulkan_compute = False
        if self.net.load_param(str(param)) != 0 or self.net.load_model(str(binfile)) != 0:
            raise RuntimeError(f"ncnn could not load {param.name}/{binfile.name}")
        self.backend = _backend(self.net.opt)
        self._in_names = list(self.net.input_names())
        self._out_names = list(self.net.output_names())
        self.inputs = _input_specs(param, self._in_names)
        self._mats: dict[str, Any] = {}
        self._outputs: list[Any] = []

    def set_inputs(self, feed: dict[str, Any]) -> None:
        import numpy as np

        by_position = list(feed.values())
        for i, name in enumerate(self._in_names):
            array = feed.get(name, by_position[i] if i < len(by_position) else None)
            array = np.ascontiguousarray(array[0] if array.ndim == 4 else array, dtype=np.float32)
            self._mats[name] = self._ncnn.Mat(array).clone()

    def invoke(self) -> None:
        # an extractor is single-use in ncnn; making one is part of a real inference
        ex = self.net.create_extractor()
        for name, mat in self._mats.items():
            ex.input(name, mat)
        outs = []
        for name in self._out_names:
            ret, mat = ex.extract(name)
            if ret != 0:
                raise RuntimeError(f"ncnn extract({name!r}) returned {ret}")
            outs.append(mat)
        self._outputs = outs

    def outputs(self) -> list[Any]:
        import numpy as np

        return [np.array(mat)[None, ...] for mat in self._outputs]  # batch dim back


def _input_specs(param: Path, names: list[str]) -> list[TensorSpec]:
    sidecar = param.with_name(param.stem + ".inputs.json")
    shapes: dict[str, tuple] = {}
    if sidecar.is_file():
        shapes = {i["name"]: tuple(i["shape"]) for i in json.loads(sidecar.read_text())["inputs"]}
    # without the sidecar the manifest shape fills the dynamic dims (harness.models.inputs)
    return [TensorSpec(n, shapes.get(n, (1, 3, None, None)), "float32") for n in names]


class NcnnEngine:
    name = "ncnn"
    formats = ("ncnn",)

    def version(self) -> str | None:
        return dist_version("ncnn")

    def supports(self, artifact_format: str, device_profile: dict[str, Any]) -> Support:
        return format_support(self, artifact_format, device_profile)

    def load(self, path: str, threads: int) -> _NcnnModel:
        return _NcnnModel(path, threads)

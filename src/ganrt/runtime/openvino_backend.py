"""OpenVINO backend: the model's ONNX graph compiled for the CPU with an explicit precision.

The precision hint is always set (``fp32`` → ``f32``, ``bf16`` → ``bf16``):
left at the device default, OpenVINO silently switches to bf16 on CPUs with
AMX. The thread count follows ``threads`` (default: all cores). Each input
shape is compiled statically (tiles are all the same size, so there are few)
and OpenVINO's model cache (``<cache>/openvino``) makes recompiles cheap.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import numpy as np

from ganrt.errors import BackendUnavailableError
from ganrt.runtime.base import Engine, ModelSpec

HINTS = {"fp32": "f32", "bf16": "bf16"}
MAX_SHAPES = 4


class OpenVinoEngine(Engine):
    backend = "openvino"

    def __init__(self, onnx_path: str | Path, spec: ModelSpec, *, precision: str = "fp32", device: str = "cpu",
                 threads: int | None = None, fp32_fallback=None):
        import openvino as ov

        from ganrt.cache import cache_dir

        if precision not in HINTS:
            raise BackendUnavailableError(f"openvino runs fp32 and bf16 on the CPU, not {precision}")
        if device != "cpu":
            raise BackendUnavailableError("the openvino backend runs on the CPU only; use --device cpu")
        super().__init__(spec, precision=precision, device=device, fp32_fallback=fp32_fallback)
        self._core = ov.Core()
        if precision == "bf16" and "BF16" not in self._core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
            raise BackendUnavailableError("this CPU has no bf16 support; use --precision fp32")
        try:
            self._core.set_property({"CACHE_DIR": str(cache_dir("openvino"))})
        except (OSError, RuntimeError):
            pass  # no cache: compiles still work, only slower
        self._model = self._core.read_model(str(onnx_path))
        self._config = {"INFERENCE_PRECISION_HINT": HINTS[precision], "PERFORMANCE_HINT": "LATENCY"}
        if threads:
            self._config["INFERENCE_NUM_THREADS"] = int(threads)
        self._requests: OrderedDict[tuple[int, ...], object] = OrderedDict()
        self.onnx_path = Path(onnx_path)

    @classmethod
    def from_model(cls, model, *, precision: str = "fp32", **kw) -> OpenVinoEngine:
        from ganrt.export.onnx_cache import cached_onnx

        return cls(cached_onnx(model, "fp32"), ModelSpec.of(model), precision=precision, **kw)

    def _request(self, shape: tuple[int, ...]):
        request = self._requests.get(shape)
        if request is not None:
            self._requests.move_to_end(shape)
            return request
        model = self._model.clone()
        model.reshape({model.inputs[0].any_name: list(shape)})
        request = self._core.compile_model(model, "CPU", self._config).create_infer_request()
        self._requests[shape] = request
        while len(self._requests) > MAX_SHAPES:
            self._requests.popitem(last=False)
        return request

    def _infer(self, batch: np.ndarray) -> np.ndarray:
        request = self._request(batch.shape)
        request.infer({0: batch})
        return np.array(request.get_output_tensor(0).data, copy=True)

    def close(self) -> None:
        self._requests.clear()
        super().close()

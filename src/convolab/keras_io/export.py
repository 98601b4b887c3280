"""Export a convolab model for deployment: ONNX (checked with onnxruntime) and TorchScript.

Both exports take the model in eval mode, with a dynamic batch axis, and are verified right after
writing: the exported model runs on random inputs of two batch sizes and must match PyTorch's output
to ``atol`` (float32). ONNX needs the optional extra ``onnx`` (``onnx``, ``onnxruntime``; the TorchDynamo
exporter of recent PyTorch also needs ``onnxscript``).
"""

from __future__ import annotations

import io
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from convolab.keras_io.targets import check_export_target

FORMATS = ("onnx", "torchscript")
OPSET = 18


@dataclass
class ExportReport:
    """Where the model went and how closely the exported copy matches PyTorch."""

    path: Path
    format: str
    input_shape: tuple[int, ...]
    batch_sizes: tuple[int, ...]
    max_abs_diff: float
    checked_with: str


def export_model(
    model: Any, path: str | Path, fmt: str = "onnx", *, atol: float = 1e-5, logits: bool = False
) -> ExportReport:
    """Export ``model`` (a convolab ``Sequential``) to ``path`` and verify the copy.

    Args:
        model: the model; its ``input_shape`` gives the example input.
        path: the output file.
        fmt: ``"onnx"`` or ``"torchscript"``.
        atol: largest allowed absolute difference between the copy and PyTorch.
        logits: export the pre-activation of the last layer instead of the output.

    Raises:
        ValueError: unknown format, a missing folder or a run's file as ``path``, or the exported model
            disagrees with PyTorch.
        ImportError: onnx/onnxruntime missing (message says what to install).
    """
    if fmt not in FORMATS:
        raise ValueError(f"export format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    path = check_export_target(path)  # an existing folder, never a run's own files
    wrapped = _Wrapper(model, logits).eval()
    shape = tuple(int(v) for v in model.input_shape)
    gen = torch.Generator().manual_seed(0)
    example = torch.rand(2, *shape, generator=gen)
    checks = [torch.rand(b, *shape, generator=gen) for b in (1, 5)]
    if fmt == "onnx":
        diff, runner = _onnx(wrapped, path, example, checks)
    else:
        diff, runner = _torchscript(wrapped, path, example, checks)
    if not diff <= atol:
        raise ValueError(f"the exported {fmt} model differs from PyTorch by {diff:.3g} (> {atol})")
    return ExportReport(path, fmt, shape, (1, 5), diff, runner)


class _Wrapper(torch.nn.Module):
    """A plain ``forward(x)`` over the model (the exporters see one tensor in, one tensor out)."""

    def __init__(self, model: Any, logits: bool) -> None:
        super().__init__()
        self.model = model
        self.logits = logits

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x, logits=self.logits) if self.logits else self.model(x)


def _onnx(model: torch.nn.Module, path: Path, example: torch.Tensor, checks: list[torch.Tensor]):
    try:
        import onnx
        import onnxruntime as ort
    except ImportError:
        raise ImportError("ONNX export needs onnx and onnxruntime: pip install 'convolab[onnx]'") from None
    batch = torch.export.Dim("batch", min=1)
    onnx_log = logging.getLogger("torch.onnx")
    level = onnx_log.level
    onnx_log.setLevel(logging.ERROR)  # "torchvision is not installed" notes from the op registry
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # exporter chatter (deprecations inside torch.onnx/onnxscript)
        program = torch.onnx.export(
            model,
            (example,),
            dynamo=True,
            input_names=["input"],
            output_names=["output"],
            dynamic_shapes={"x": {0: batch}},
            opset_version=OPSET,
            verbose=False,
        )
        if program is None:  # dynamo=True returns an ONNXProgram (None is the legacy exporter's answer)
            raise RuntimeError(
                f"torch {torch.__version__}: torch.onnx.export(dynamo=True) returned no program"
            )
        program.save(str(path))
    onnx_log.setLevel(level)
    onnx.checker.check_model(onnx.load(str(path)))
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    diff = 0.0
    with torch.no_grad():
        for x in checks:
            got = torch.from_numpy(session.run(None, {"input": x.numpy()})[0])
            diff = max(diff, float((got - model(x)).abs().max()))
    return diff, f"onnxruntime {ort.__version__}"


def _torchscript(model: torch.nn.Module, path: Path, example: torch.Tensor, checks: list[torch.Tensor]):
    # torch 2.13 deprecates torch.jit (DeprecationWarning on load) in favour of torch.export; TorchScript
    # is still what C++ (libtorch) and many serving stacks load, so it stays, with the warning silenced.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # also tracer warnings about Python ints taken from shapes
        traced = torch.jit.trace(model, example, check_trace=False)
        traced.save(str(path))
        loaded = torch.jit.load(io.BytesIO(path.read_bytes()), map_location="cpu")
    diff = 0.0
    with torch.no_grad():
        for x in checks:
            diff = max(diff, float((loaded(x) - model(x)).abs().max()))
    return diff, f"torch.jit {torch.__version__}"

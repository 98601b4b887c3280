"""TensorBoard event files for a training run (the optional extra: ``pip install 'convolab[tensorboard]'``).

When the ``tensorboard`` package is installed, a run writes ``<run>/tensorboard/events.out.tfevents.*``
(rank 0 only), readable by ``tensorboard --logdir <run>``:

- per log step (every ``log_every`` steps, the values of log.jsonl's ``step`` records), at the global step:
  ``step/train_loss`` and ``step/lr``;
- per epoch, at the epoch number (as Keras's TensorBoard callback does): ``epoch/train_loss``,
  ``epoch/val_bce``, ... every number of log.jsonl's ``epoch`` record, and the image ``reconstructions``:
  a few validation images (top row) over the model's reconstructions (bottom row; with ``--noise`` the
  noisy inputs in between);
- once per session, the model graph: one node per layer (its output shape, parameters and config) built
  from the model walk, so it costs no forward pass and works for every convolab model.

The writer is tensorboard's own ``RecordWriter`` and protobuf classes, nothing more: importing
``torch.utils.tensorboard`` imports TensorFlow when it is installed (12.7 s measured, docs/training.md),
and tensorboard's ``EventFileWriter`` reaches TensorFlow through ``tf.io.gfile``.

Resume: a run killed after its last checkpoint may have logged steps that the resumed run replays. Before
a resumed session writes, :func:`truncate` rewrites each old event file (atomically, file by file) without
the events past the checkpoint (step tags past its global step, epoch tags past its epochs), so no step
appears twice, in any viewer (the Rust data server does not purge on restart as the Python one does).

Nothing here imports tensorboard at module level: ``import convolab.train.loop`` stays light.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import struct
import time
from pathlib import Path
from typing import Any

from convolab.train.runfolder import TENSORBOARD_DIR

FOLDER = TENSORBOARD_DIR  # inside the run folder (RUN_ENTRIES lists it: --overwrite removes it)
INSTALL = "pip install 'convolab[tensorboard]'"
IMAGES = 8  # validation images in the reconstructions image
STEP_PREFIX = "step/"

__all__ = ["FOLDER", "INSTALL", "NullEvents", "RunEvents", "available", "open_events", "truncate"]


def available() -> bool:
    """Whether the ``tensorboard`` package is installed (found without importing it)."""
    try:
        return importlib.util.find_spec("tensorboard") is not None
    except (ImportError, ValueError):
        return False


class NullEvents:
    """The writer of a run that writes no events (not rank 0, turned off, or not installed)."""

    def step(self, global_step: int, loss: float | None) -> None:
        pass

    def epoch(self, record: dict[str, Any], predict: Any) -> None:
        pass

    def close(self) -> None:
        pass


def open_events(trainer: Any) -> NullEvents | RunEvents:
    """The events writer for ``trainer`` (``trainer.tensorboard``: True, False, or None = when installed)."""
    wanted = trainer.tensorboard
    if not trainer.ctx.is_main or wanted is False or (wanted is None and not available()):
        return NullEvents()
    if not available():
        raise ValueError(f"TensorBoard logs need the tensorboard package: {INSTALL}")
    try:
        return RunEvents(trainer)
    except ImportError as exc:  # an installed but broken tensorboard (e.g. a protobuf it cannot load)
        if wanted:
            raise ValueError(f"TensorBoard logs: the tensorboard package does not import ({exc})") from None
        trainer.log.write("tensorboard", events="skipped", reason=f"ImportError: {exc}")
        return NullEvents()
    except Exception as exc:  # noqa: BLE001 - a log must not cost a run (a file where the folder goes, ...)
        give_up(trainer, exc)
        return NullEvents()


def give_up(trainer: Any, exc: BaseException) -> None:
    """TensorBoard logging failed: one warning line naming the file, a ``tensorboard`` log record."""
    from convolab.train.runfolder import warn

    where = getattr(exc, "filename", None) or trainer.run_dir / FOLDER
    why = getattr(exc, "strerror", None) or (str(exc).splitlines() or [type(exc).__name__])[0]
    warn(f"TensorBoard logging stopped: cannot write {where} ({why}); training goes on without it")
    trainer.log.write("tensorboard", events="stopped", reason=f"{type(exc).__name__}: {why}", path=str(where))


def _survive(method: Any) -> Any:
    """A ``RunEvents`` write that fails stops the events (reported once by :func:`give_up`), not the run."""

    def guarded(self: RunEvents, *args: Any) -> None:
        if self.stopped:
            return
        try:
            method(self, *args)
        except Exception as exc:  # noqa: BLE001 - see give_up
            self.stopped = True
            give_up(self.trainer, exc)

    return guarded


# -- the event file -------------------------------------------------------------------------------------
def _record(data: bytes) -> bytes:
    """One TFRecord: length, its masked CRC-32C, the data, the data's masked CRC-32C (little-endian)."""
    from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c

    header = struct.pack("<Q", len(data))
    return header + struct.pack("<I", masked_crc32c(header)) + data + struct.pack("<I", masked_crc32c(data))


class EventFile:
    """A new ``events.out.tfevents.*`` file; each event is flushed as written (a live viewer sees it)."""

    def __init__(self, folder: Path) -> None:
        from tensorboard.compat.proto.event_pb2 import Event
        from tensorboard.summary.writer.record_writer import RecordWriter

        folder.mkdir(parents=True, exist_ok=True)
        stamp = time.time()
        base = f"events.out.tfevents.{int(stamp):010d}.{socket.gethostname()}.{os.getpid()}"
        n = 0
        while (folder / f"{base}.{n}").exists():
            n += 1
        self.path = folder / f"{base}.{n}"
        self._writer = RecordWriter(open(self.path, "xb"))
        self.Event = Event
        self.write(Event(wall_time=stamp, file_version="brain.Event:2"))

    def write(self, event: Any) -> None:
        self._writer.write(event.SerializeToString())
        self._writer.flush()

    def close(self) -> None:
        if not self._writer.closed:
            self._writer.close()


def read_events(path: Path) -> tuple[list[Any], bool]:
    """The events of one file, and whether its tail was torn (a record cut by a kill is dropped)."""
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c

    data, pos = path.read_bytes(), 0
    events: list[Any] = []
    while pos < len(data):
        header = data[pos : pos + 12]
        if len(header) < 12 or struct.unpack("<I", header[8:])[0] != masked_crc32c(header[:8]):
            return events, True
        (length,) = struct.unpack("<Q", header[:8])
        body, crc = data[pos + 12 : pos + 12 + length], data[pos + 12 + length : pos + 16 + length]
        if len(crc) < 4 or struct.unpack("<I", crc)[0] != masked_crc32c(body):
            return events, True
        events.append(Event.FromString(body))
        pos += 16 + length
    return events, False


def _keep(event: Any, global_step: int, epochs: int) -> bool:
    """An event of a resumed run's past: step tags up to ``global_step``, epoch tags up to ``epochs``."""
    if event.HasField("graph_def"):
        return False  # each session writes the graph again
    if not event.HasField("summary") or not event.summary.value:
        return True  # the file version record
    per_step = event.summary.value[0].tag.startswith(STEP_PREFIX)
    return event.step <= (global_step if per_step else epochs)


def truncate(folder: Path, global_step: int, epochs: int) -> int:
    """Drop the events a resumed run will write again; returns how many were dropped."""
    dropped = 0
    for path in sorted(folder.glob("*tfevents*")):
        if not path.is_file() or path.name.startswith("."):
            continue
        events, torn = read_events(path)
        kept = [e for e in events if _keep(e, global_step, epochs)]
        if len(kept) == len(events) and not torn:
            continue
        dropped += len(events) - len(kept)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(b"".join(_record(e.SerializeToString()) for e in kept))
        os.replace(tmp, path)  # atomic: a kill leaves the old file or the new one
    return dropped


# -- what a run writes ----------------------------------------------------------------------------------
class RunEvents:
    """The events of one training session of ``trainer`` (rank 0)."""

    def __init__(self, trainer: Any) -> None:
        from tensorboard.compat.proto import summary_pb2

        self.trainer = trainer
        self.stopped = False  # a write failed: no more events this session
        self.Summary = summary_pb2.Summary
        folder = trainer.run_dir / FOLDER
        if folder.is_dir() and (trainer.global_step or trainer.epoch or any(folder.iterdir())):
            truncate(folder, trainer.global_step, trainer.epoch)
        self.file = EventFile(folder)
        self._images: tuple[Any, Any | None] | None = None
        self._graph()

    def _write(self, step: int, values: list[Any]) -> None:
        event = self.file.Event(wall_time=time.time(), step=step, summary=self.Summary(value=values))
        self.file.write(event)

    def _scalars(self, step: int, scalars: dict[str, float]) -> None:
        values = [self.Summary.Value(tag=k, simple_value=float(v)) for k, v in scalars.items()]
        self._write(step, values)

    @_survive
    def step(self, global_step: int, loss: float | None) -> None:
        if loss is None:
            return
        lr = float(self.trainer.optimizer.param_groups[0]["lr"])
        self._scalars(global_step, {f"{STEP_PREFIX}train_loss": loss, f"{STEP_PREFIX}lr": lr})

    @_survive
    def epoch(self, record: dict[str, Any], predict: Any) -> None:
        epoch = int(record["epoch"])
        scalars = {f"epoch/{k}": v for k, v in _numbers(record).items() if k != "epoch"}
        self._scalars(epoch, scalars)
        image = self._reconstructions(predict)
        self._write(epoch, [self.Summary.Value(tag="reconstructions", image=image)])

    def close(self) -> None:
        try:
            self.file.close()
        except OSError:  # the last flush: reported when a write failed, else nothing was pending
            pass

    def _graph(self) -> None:
        """The layer graph; a model it cannot describe is logged (log.jsonl) and skipped."""
        tick = time.perf_counter()
        try:
            graph = graph_def(self.trainer.model)
        except Exception as exc:  # noqa: BLE001 - the graph is a nicety: never stop training for it
            self.trainer.log.write("tensorboard", graph="skipped", reason=f"{type(exc).__name__}: {exc}")
            return
        self.file.write(self.file.Event(wall_time=time.time(), graph_def=graph.SerializeToString()))
        self.graph_seconds = time.perf_counter() - tick

    def _reconstructions(self, predict: Any) -> Any:
        import torch

        if self._images is None:
            self._images = _validation_images(self.trainer, IMAGES)
        target, noisy = self._images
        with torch.no_grad():
            out = predict(target if noisy is None else noisy).float().reshape(target.shape)
        rows = [target, out] if noisy is None else [target, noisy, out]
        return png_summary(torch.cat([_strip(r) for r in rows], dim=1), self.Summary)


def _numbers(record: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """The numbers of an epoch record, nested dicts flattened (``val`` -> ``val_bce``, ...)."""
    out: dict[str, float] = {}
    for key, value in record.items():
        if isinstance(value, dict):
            out.update(_numbers(value, f"{prefix}{key}_"))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[prefix + key] = float(value)
    return out


def _validation_images(trainer: Any, n: int) -> tuple[Any, Any | None]:
    """``n`` validation images on the device (in-memory or streamed) and, with noise, their noisy inputs."""
    import torch

    from convolab.train.batchorder import add_noise, derive_seed

    source, cfg = trainer.source, trainer.config
    if hasattr(source, "val_x"):  # TensorSource: the validation split is on the device
        return source.val_x[:n], (source.val_in[:n] if cfg.noise else None)
    stream = getattr(source, "stream", None)
    if stream is not None and len(stream.val):  # FolderSource: read the first n from disk
        images = torch.stack([stream.val[i] for i in range(min(n, len(stream.val)))])
        target = images.to(torch.float32).div_(255.0).to(trainer.device)
    else:
        target = source.sample()[:n]
    noisy = add_noise(target, cfg.noise, derive_seed(cfg.seed, "val-noise")) if cfg.noise else None
    return target, noisy


def _strip(images: Any) -> Any:
    """``(n, C, H, W)`` -> one row ``(C, H, n*W)`` in [0, 1], on the CPU."""
    x = images.detach().float().clamp(0, 1).cpu()
    return x.permute(1, 2, 0, 3).reshape(x.shape[1], x.shape[2], -1)


def png_summary(grid: Any, summary_cls: Any) -> Any:
    """A ``(C, H, W)`` tensor in [0, 1] as a ``Summary.Image`` (PNG; grey, RGB, else the first channel)."""
    import io

    import torch
    from PIL import Image

    channels = grid.shape[0]
    pixels = (grid * 255).round().to(dtype=torch.uint8)
    if channels == 3:
        img = Image.fromarray(pixels.permute(1, 2, 0).numpy(), mode="RGB")
    else:
        img = Image.fromarray(pixels[0].numpy(), mode="L")
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return summary_cls.Image(
        height=img.height,
        width=img.width,
        colorspace=3 if channels == 3 else 1,
        encoded_image_string=buf.getvalue(),
    )


def graph_def(model: Any) -> Any:
    """The model as a TensorBoard ``GraphDef``: an input node, then one node per layer (unpools also
    take their pool's switches), each with its output shape, parameter count and config."""
    from tensorboard.compat.proto.attr_value_pb2 import AttrValue
    from tensorboard.compat.proto.graph_pb2 import GraphDef
    from tensorboard.compat.proto.node_def_pb2 import NodeDef
    from tensorboard.compat.proto.tensor_shape_pb2 import TensorShapeProto

    def shape(dims: tuple[int, ...]) -> AttrValue:
        proto = TensorShapeProto(dim=[TensorShapeProto.Dim(size=d) for d in (-1, *dims)])
        return AttrValue(list=AttrValue.ListValue(shape=[proto]))

    nodes = [NodeDef(name="input", op="Input", attr={"_output_shapes": shape(model.input_shape)})]
    names: dict[int, str] = {}
    previous = "input"
    for step in model.walk.steps:
        names[step.index] = name = f"{step.index:02d}_{step.name}"
        inputs = [previous] + ([names[step.pool_index]] if step.pool_index is not None else [])
        config = json.dumps(step.layer.spec_config(), default=str, sort_keys=True)
        attr = {
            "_output_shapes": shape(step.output_shape),
            "params": AttrValue(i=step.count_params()),
            "config": AttrValue(s=config.encode()),
        }
        nodes.append(NodeDef(name=name, op=type(step.layer).__name__, input=inputs, attr=attr))
        previous = name
    return GraphDef(node=nodes)

"""``convolab.fit``: train from Python (a notebook) through the code ``convolab train`` runs.

``fit(model, dataset, **options)`` turns its arguments into a ``TrainConfig`` (the options are its
fields: ``epochs``, ``batch_size``, ``lr``, ``seed``, ``out``, ``device``, ``amp``, ...) and runs
``convolab.train.session.start`` -> ``Trainer.fit`` -> ``session.draw_figures``, as the CLI does: the
same run folder, the same numbers (tests/test_fit.py trains both ways and compares the weights bit for
bit). What Python adds:

- the model may be a built ``convolab.Sequential``, trained in place as Keras does (it starts from
  its current weights and ends with the last epoch's, or the best's with ``restore_best_weights``)
  or a spec as a dict / YAML text, besides a zoo name or spec file.
  Such a model's spec is written to ``model.json`` in the run folder (``config.json`` names it) and its
  starting weights are saved as ``last`` before the first step, so the folder alone resumes the run;
- the images may be arrays (``convolab.train.arrays``): kept in the run folder, dataset ``memory``;
- the result is a :class:`~convolab.train.run.Run`, and a Ctrl-C / notebook interrupt saves ``last``
  and raises ``TrainingInterrupted`` saying how to go on (``convolab.resume(path)``).
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from convolab.train.config import FOLDER_PREFIX, TrainConfig
from convolab.train.run import Run, load_run
from convolab.train.run_data import MEMORY_DATASET

if TYPE_CHECKING:
    from convolab.model.spec import ModelSpec
    from convolab.train.loop import Trainer

__all__ = ["fit", "resume"]

MODEL_FILE = "model.json"  # the spec of a model given in Python, beside config.json
OPTIONS = tuple(f.name for f in dataclasses.fields(TrainConfig) if f.name not in ("model", "dataset"))


PATH_OPTIONS = ("out", "data_dir")  # a folder: str or os.PathLike


def _check_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` checked by name and by kind of value (before any value reaches ``TrainConfig``);
    folder paths given as ``Path`` become strings."""
    checked: dict[str, Any] = {}
    for key, value in options.items():
        if key not in OPTIONS:
            close = difflib.get_close_matches(key, OPTIONS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; options: {', '.join(OPTIONS)}"
            raise ValueError(f"unknown option {key!r} (fit takes TrainConfig's fields){hint}")
        if key in PATH_OPTIONS and isinstance(value, os.PathLike):
            value = os.fspath(value)
        if key == "extra":
            ok, kind = isinstance(value, Mapping), "a dict"
        elif key in PATH_OPTIONS:
            ok, kind = value is None or isinstance(value, str), "a folder path (str or Path)"
        else:
            ok, kind = value is None or isinstance(value, (str, int, float)), "a number or a string"
        if not ok:
            raise ValueError(f"option {key!r} must be {kind}, got {type(value).__name__} {_short(value)}")
        checked[key] = value
    return checked


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _base_values(config: Any) -> dict[str, Any]:
    """The fields of ``config``: None, a YAML/JSON file (a run's ``config.json``), a dict or a TrainConfig."""
    if config is None:
        return {}
    if isinstance(config, TrainConfig):
        return config.to_dict()
    if isinstance(config, Mapping):
        return TrainConfig.from_dict(dict(config)).to_dict()
    if isinstance(config, (str, os.PathLike)):
        return TrainConfig.from_file(os.fspath(config))
    raise ValueError(f"config must be a file, a dict or a TrainConfig, got {type(config).__name__}")


def _names_a_spec(text: str) -> bool:
    """A string ``config.model`` can hold as it is: a zoo name or a spec file (not YAML/JSON text)."""
    from convolab.model.spec import SPEC_SUFFIXES

    t = text.strip()
    if "\n" in t or t.startswith(("{", "[")):
        return False
    return Path(t).suffix.lower() in SPEC_SUFFIXES or Path(t).is_file() or ":" not in t


def _model_arg(model: Any) -> tuple[str | None, ModelSpec, dict[str, Any] | None]:
    """``(config.model, spec, starting weights)`` of fit's ``model`` argument, its spec parsed once:
    ``config.model`` is None for a model given in Python (its spec then goes into the run folder)."""
    import torch

    from convolab.model.sequential import Sequential
    from convolab.model.spec import ModelSpec, load_spec

    if isinstance(model, Sequential):
        weights = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        return None, model.to_spec(), weights
    if isinstance(model, torch.nn.Module):
        raise ValueError(
            f"fit trains convolab.Sequential models, got a {type(model).__name__}: build the model from "
            "convolab layers (convolab.Sequential([...], input_shape=...)) or give its spec"
        )
    if isinstance(model, os.PathLike) or (isinstance(model, str) and _names_a_spec(model)):
        return os.fspath(model), load_spec(os.fspath(model)), None  # an unknown name or a bad file: now
    if isinstance(model, (str, Mapping, ModelSpec)):
        return None, load_spec(model), None
    raise ValueError(
        "model must be a convolab.Sequential, a spec (dict, YAML text, spec file) or a zoo name, got "
        f"{type(model).__name__}"
    )


def _validation_images(validation_data: Any) -> Any:
    """Keras's ``validation_data=(x_val, x_val)`` or just ``x_val``: the target must be the input."""
    if not isinstance(validation_data, tuple):
        return validation_data
    if len(validation_data) == 2 and (validation_data[1] is None or validation_data[1] is validation_data[0]):
        return validation_data[0]
    raise ValueError(
        "validation_data: give the validation images (or Keras's (x_val, x_val)); an autoencoder's "
        "target is its input"
    )


def _memory_data(x: Any, validation_data: Any, shape: tuple[int, int, int], cfg: TrainConfig) -> Any:
    """The ``RunData`` of images given as arrays (limit, then the validation part carved or given)."""
    from convolab.train.arrays import as_images, split_memory
    from convolab.train.run_data import memory_run_data

    train = as_images(x, shape, "the training images")[: cfg.limit]
    if validation_data is None:
        train, val = split_memory(train, cfg.val_fraction, cfg.seed)
    else:
        val = as_images(_validation_images(validation_data), shape, "validation_data")[: cfg.limit]
    return memory_run_data(train, val, val, "validation")


def _dataset_arg(dataset: Any, validation_data: Any) -> tuple[str | None, Any]:
    """``(config.dataset, arrays)``: a name, ``folder:PATH``, a folder path, or images in memory."""
    if isinstance(dataset, str) or dataset is None:
        arrays = None
    elif isinstance(dataset, os.PathLike):
        dataset, arrays = FOLDER_PREFIX + os.fspath(dataset), None
    else:
        return MEMORY_DATASET, dataset
    if validation_data is not None:
        raise ValueError(
            "validation_data goes with images given as arrays; a named dataset holds out its own "
            "validation part (val_fraction)"
        )
    if dataset == MEMORY_DATASET:
        raise ValueError(f"dataset {MEMORY_DATASET!r} means images given as arrays: pass the arrays")
    return dataset, arrays


def _configure(model: Any, dataset: Any, validation_data: Any, config: Any, options: dict[str, Any]):
    """``(TrainConfig, spec, label, weights, RunData)`` of fit's arguments, validated; nothing written.
    ``label``: the name of a model given in Python (its spec goes into the run folder), else None."""
    from convolab.train.session import check_amp

    values = {**_base_values(config), **_check_options(options)}
    name, spec, weights = _model_arg(model)
    values["dataset"], arrays = _dataset_arg(
        dataset if dataset is not None else values.get("dataset"), validation_data
    )
    if values["dataset"] is None:
        values.pop("dataset")
    values["model"] = name if name is not None else (spec.name or "model")
    cfg = TrainConfig.from_dict(values).validate()
    check_amp(cfg)
    if name is None:  # a model given in Python: its spec goes into the run folder
        out = Path(cfg.out) if cfg.out else cfg.default_out()
        cfg = dataclasses.replace(cfg, out=str(out), model=str(out / MODEL_FILE))
    data = None
    if arrays is not None:
        shape = tuple(spec.input_shape)
        if len(shape) != 3:
            raise ValueError(f"the model takes inputs of shape {shape}, not images (C, H, W)")
        data = _memory_data(arrays, validation_data, shape, cfg)
    return cfg, spec, (spec.name or "model") if name is None else None, weights, data


def _write_inputs(trainer: Trainer, spec: ModelSpec | None, weights: Any, data: Any) -> None:
    """What a run given in Python needs in its folder to resume from it alone (before the first step);
    on a failure the run folder's lock is released."""
    try:
        _write_run_inputs(trainer, spec, weights, data)
    except BaseException:
        if trainer.lock is not None:
            trainer.lock.release()
        raise


def _write_run_inputs(trainer: Trainer, spec: ModelSpec | None, weights: Any, data: Any) -> None:
    from convolab.train.arrays import DATA_FILE, write_arrays
    from convolab.train.runfolder import write_json

    run_dir = Path(trainer.run_dir)
    for name, needed in ((MODEL_FILE, spec is not None), (DATA_FILE, data is not None)):
        if not needed:
            (run_dir / name).unlink(missing_ok=True)  # an overwritten run's leftovers
    if data is not None:
        write_arrays(run_dir, data.train, data.val, data.eval_images, data.eval_name)
    if spec is not None:
        write_json(run_dir / MODEL_FILE, spec.to_dict())
        if weights is not None:
            trainer.model.load_state_dict(weights)  # in place: the optimizer holds these parameters
        trainer.save("last")  # epoch 0, step 0: the starting weights are on disk


def _into(model: Any, run_dir: Path, which: str) -> None:
    """Copy checkpoint ``which`` of ``run_dir`` into ``model``'s own parameters (Keras's in place):
    ``load_state_dict`` copies values, so each parameter keeps its device and memory format."""
    if model is None:
        return
    from convolab.train.checkpoint import load_checkpoint, resolve_checkpoint

    model.load_state_dict(load_checkpoint(resolve_checkpoint(run_dir, which), with_optimizer=False).weights)


def _run(trainer: Trainer, figures: bool, quiet: bool, model: Any = None, which: str = "last") -> Run:
    """``Trainer.fit`` and the figures, as ``convolab train`` runs them; the trained :class:`Run`.
    ``model``: the object given to ``fit``, which gets checkpoint ``which``'s weights (``last`` too
    when interrupted)."""
    from convolab.train import session
    from convolab.train.loop import TrainingInterrupted

    if not quiet:
        print(f"run folder: {trainer.run_dir}")
    try:
        trainer.fit()
    except TrainingInterrupted as exc:
        stopped = TrainingInterrupted(exc.signum, exc.checkpoint)
        run = exc.checkpoint.parent
        _into(model, run, "last")
        stopped.args = (
            f"interrupted: saved {exc.checkpoint}; continue with convolab.resume({str(run)!r}) "
            f"(or: convolab train --resume {run})",
        )
        raise stopped from None
    if figures:
        session.draw_figures(trainer)
    run_dir, device = trainer.run_dir, trainer.config.device
    trainer.ctx.shutdown()
    _into(model, Path(run_dir), which)
    return load_run(run_dir, device=device)


def _threads(threads: int | None) -> None:
    if threads is not None:
        from convolab.threads import set_threads

        set_threads(threads)


def fit(
    model: Any,
    dataset: Any = None,
    *,
    validation_data: Any = None,
    config: Any = None,
    overwrite: bool = False,
    quiet: bool = False,
    figures: bool = True,
    threads: int | None = None,
    restore_best_weights: bool = False,
    **options: Any,
) -> Run:
    """Train an autoencoder and return its :class:`~convolab.train.run.Run`; ``convolab train`` in Python.

    Args:
        model: a built ``convolab.Sequential``, trained in place as Keras does: it starts from its
            current weights and ends holding the last epoch's (``restore_best_weights``: the best
            epoch's, as Keras's ``EarlyStopping(restore_best_weights=True)``), in its own device and
            memory format; or a spec (dict, YAML text, spec file) or a zoo name.
        dataset: ``"mnist"``, ``"fashion-mnist"``, ``"kmnist"``, ``"cifar10"``, ``"folder:PATH"`` or a
            folder ``Path``; or images as a NumPy array / torch tensor, ``(N, H, W)``, ``(N, H, W, C)``
            (Keras) or ``(N, C, H, W)``, uint8 or float in [0, 1]. Default: the config's (``mnist``).
        validation_data: with arrays, the validation images (or Keras's ``(x_val, x_val)``); also the
            evaluation set. Without it, ``val_fraction`` of the images is held out (seeded).
        config: a YAML/JSON file (a run's ``config.json``), dict or ``TrainConfig``; ``options`` override it.
        overwrite, quiet, figures, threads: ``convolab train``'s flags (``threads``: ``set_threads``).
        restore_best_weights: the given model ends with the best epoch's weights instead of the last;
            ``run.model`` is always the best checkpoint (what ``run.evaluate`` and the figures use).
        **options: ``TrainConfig`` fields: ``epochs``, ``batch_size``, ``lr``, ``lr_schedule``
            (``constant``, ``cosine``, ``onecycle``), ``warmup`` (onecycle's), ``loss``, ``noise``,
            ``seed``, ``out`` (default ``runs/<model>-<dataset>-<time>``), ``device``, ``amp``, ``limit``,
            ``data_dir``, ``train_split``, ``val_fraction``, checkpointing, streaming.

    Raises:
        ValueError (``ConfigError`` for a bad option value) with one message; ``TrainingInterrupted``
        after a Ctrl-C / notebook interrupt, once ``last`` is saved.

    Example:
        >>> run = convolab.fit("seed-upsampling", "mnist", epochs=5)  # doctest: +SKIP
        >>> run.history["val_loss"], run.evaluate()["metrics"]["psnr"]  # doctest: +SKIP
    """
    from convolab.train import session

    which = _restored(restore_best_weights)
    _threads(threads)
    cfg, spec, label, weights, data = _configure(model, dataset, validation_data, config, options)
    trainer = session.start(cfg, overwrite=overwrite, quiet=quiet, spec=spec, label=label, data=data)
    _write_inputs(trainer, spec if label is not None else None, weights, data)
    return _run(trainer, figures, quiet, _trained_in_place(model), which)


def _restored(restore_best_weights: Any) -> str:
    """The checkpoint a given model ends with: ``"best"`` (``restore_best_weights``) or ``"last"``."""
    if not isinstance(restore_best_weights, bool):
        raise ValueError(f"restore_best_weights must be True or False, got {_short(restore_best_weights)}")
    return "best" if restore_best_weights else "last"


def _trained_in_place(model: Any) -> Any:
    """The model ``fit`` trains in place (Keras's way): a given ``Sequential``, else None (a spec)."""
    from convolab.model.sequential import Sequential

    return model if isinstance(model, Sequential) else None


def resume(
    run: str | Path | Run,
    epochs: int | None = None,
    *,
    quiet: bool = False,
    figures: bool = True,
    threads: int | None = None,
    **options: Any,
) -> Run:
    """Continue a stopped run (or train a finished one on to more ``epochs``); ``convolab train --resume``.

    ``options``: the fields ``--resume`` may change (``device``, checkpointing, streaming). ``epochs``
    cannot change for a run with an ``lr_schedule`` other than ``constant`` (it is planned over them).
    """
    from convolab.train import session

    options = _check_options(options)
    _threads(threads)
    path = run.path if isinstance(run, Run) else Path(run)
    overrides = {**options, **({} if epochs is None else {"epochs": epochs})}
    return _run(session.resume(path, overrides=overrides, quiet=quiet), figures, quiet)

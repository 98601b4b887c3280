"""``predict`` and ``evaluate`` as Keras has them: NumPy (or torch) images in, NumPy or numbers out.

``convolab.predict(model, x)`` and ``convolab.evaluate(model, x)`` (also ``model.predict(x)``,
``model.evaluate(x)`` on a ``convolab.Sequential``) take images as ``convolab.fit`` does
(``train.arrays.as_images``: (N, H, W), (N, H, W, C) or (N, C, H, W); uint8 divided by 255, floats in
[0, 1]) and run the code ``convolab evaluate`` runs: ``engine.predict.predict`` in chunks of
``engine.predict.eval_chunk`` images, then ``metrics.metrics_of``. On a run's evaluation set they give the
numbers of ``run.evaluate()`` (tests/test_keras_api.py).
"""

from __future__ import annotations

from typing import Any

from convolab.engine.step import LOSSES

__all__ = ["evaluate", "predict"]

DEFAULT_BATCH = 32  # Keras's default batch_size of predict and evaluate


def _check(model: Any, batch_size: Any) -> int:
    from convolab.engine.predict import eval_chunk
    from convolab.model.sequential import Sequential

    if not isinstance(model, Sequential):
        raise ValueError(f"model must be a convolab.Sequential, got {type(model).__name__}")
    if batch_size is None:
        return eval_chunk(DEFAULT_BATCH, tuple(model.input_shape))
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    return batch_size


def _outputs(model: Any, x: Any, chunk: int) -> Any:
    from convolab.engine.predict import predict as predict_batches
    from convolab.train.arrays import as_images

    images = as_images(x, tuple(model.input_shape), "x")
    return images, predict_batches(model, images, chunk)


def predict(model: Any, x: Any, batch_size: int | None = None) -> Any:
    """The model's outputs for images ``x`` as a NumPy float32 array ``(N, *model.output_shape)``.

    ``batch_size``: images per forward pass (default: ``engine.predict.eval_chunk`` of Keras's 32; it changes
    the speed, not the numbers beyond float summation order). The model's train/eval mode is kept.
    """
    chunk = _check(model, batch_size)
    return _outputs(model, x, chunk)[1].numpy()


def evaluate(
    model: Any,
    x: Any,
    y: Any = None,
    *,
    batch_size: int | None = None,
    loss: str = "bce",
    return_dict: bool = False,
) -> Any:
    """The loss of ``model`` on images ``x`` against ``y`` (default: ``x`` itself, an autoencoder's
    target), as a float; ``return_dict=True``: ``{"loss", "bce", "mse", "psnr", "ssim"}`` (Keras's
    ``return_dict``). ``loss``: ``"bce"`` (the training default) or ``"mse"``."""
    from convolab.train.arrays import as_images
    from convolab.train.metrics import metrics_of

    chunk = _check(model, batch_size)
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {', '.join(LOSSES)}, got {loss!r}")
    if not isinstance(return_dict, bool):
        raise ValueError(f"return_dict must be True or False, got {return_dict!r}")
    images, outputs = _outputs(model, x, chunk)
    target = images if y is None or y is x else as_images(y, tuple(model.output_shape), "y")
    if target.shape != outputs.shape:
        what = "x (the target when y is None)" if target is images else "y"
        raise ValueError(
            f"{what} has {target.shape[0]} images of {tuple(target.shape[1:])}; the model gives "
            f"{outputs.shape[0]} of {tuple(outputs.shape[1:])}"
        )
    metrics = metrics_of(outputs, target, chunk)
    return {"loss": metrics[loss], **metrics} if return_dict else metrics[loss]

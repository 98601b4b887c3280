"""``Activations(model, image)``: every layer's real output for one image, as in the lab's view.

One tile per channel (signed maps blue-white-red, others grey, with their range); hover a unit: its exact
receptive field is shaded on the input; click it: the kernel sends a custom message back with its
pre-activation, and for a Conv2D the kernel slice, the input window and the bias. ``data`` is the lab's
``/api/activations`` answer, made by the same function (``lab.api_activations.activations_of``; maps
as base64 float32, the forward pass's own numbers); a click is answered by ``pixel_of``
(``/api/activations/pixel``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from convolab.widgets.base import LabWidget, check_model, lab_call


def as_image(image: Any, shape: tuple[int, ...]) -> np.ndarray:
    """One image for a model of input ``shape`` ``(C, H, W)`` as float32 ``(1, C, H, W)`` in [0, 1]:
    given as (C, H, W), (H, W, C), (H, W) for one channel, or a batch of one of these (NumPy, torch or
    lists); uint8 is divided by 255, floats must lie in [0, 1] (``convolab.train.arrays.as_images``)."""
    from convolab.train.arrays import as_images

    if len(shape) != 3:
        raise ValueError(f"the activations view takes models of (C, H, W) inputs, not {list(shape)}")
    if not hasattr(image, "ndim"):
        try:
            image = np.asarray(image)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"image must be an array of numbers: {exc}") from None
    if image.ndim == 4 and image.shape[0] != 1:
        raise ValueError(f"image must be one image, got a batch of {image.shape[0]}")
    if image.ndim not in (2, 3, 4):
        raise ValueError(f"image must be (C, H, W), (H, W, C) or (H, W), got shape {tuple(image.shape)}")
    batch = image if image.ndim == 4 else image[None]
    c, h, w = (int(v) for v in shape)
    one = tuple(int(v) for v in batch.shape[1:])
    if one not in ((c, h, w), (h, w, c)) and not (c == 1 and one == (h, w)):
        forms = f"({c}, {h}, {w}) or ({h}, {w}, {c})" + (f" or ({h}, {w})" if c == 1 else "")
        raise ValueError(f"image has shape {tuple(image.shape)}; the model takes one image {forms}")
    x = as_images(batch, (c, h, w), "image")
    # plain strides (a permuted (H, W, C) image keeps odd ones, and the convolution then takes another path)
    return np.array(x.numpy(), dtype=np.float32, order="C", copy=True)


class Activations(LabWidget):
    """The feature maps of ``model`` (a ``Sequential``) for ``image`` (NumPy or torch, uint8 or [0, 1])."""

    def __init__(self, model: Any, image: Any, label: str = "image") -> None:
        self._net = check_model(model)
        self._x = as_image(image, tuple(self._net.input_shape))
        self._label = str(label)
        super().__init__(_view="activations", data=self._answer())
        self.on_msg(self._on_msg)

    def _answer(self) -> dict[str, Any]:
        from convolab.lab.api_activations import activations_of

        return lab_call(activations_of, self._net, self._x, self._label)

    def refresh(self, image: Any = None) -> None:
        """Recompute the maps (the model's current weights; a new ``image`` when given)."""
        if image is not None:
            self._x = as_image(image, tuple(self._net.input_shape))
        self.data = self._answer()

    def pixel(self, layer: int, channel: int, row: int, col: int) -> dict[str, Any]:
        """What made one output unit: the lab's ``/api/activations/pixel`` answer for this model and image."""
        from convolab.lab.api_pixel import pixel_of

        return lab_call(pixel_of, self._net, self._x, int(layer), int(channel), int(row), int(col))

    def _on_msg(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if not isinstance(content, dict) or content.get("type") != "pixel":
            return
        try:
            where = [int(content[k]) for k in ("layer", "channel", "row", "col")]
            self.send({"type": "pixel", "result": self.pixel(*where)})
        except (KeyError, TypeError, ValueError) as exc:
            self.send({"type": "error", "message": str(exc)})

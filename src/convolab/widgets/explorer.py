"""``Explorer(model)``: the lab designer's summary table in a notebook, with exact receptive fields.

Hover (or click) a row: that layer's output grid appears beside the input; hover a pixel of it (or step
with the arrow keys): the input pixels it can see are shaded. ``data`` is the lab's ``/api/analyze``
answer for the model's spec (``lab.api_model.analyze_spec``: ``Analysis.to_dict()`` plus each layer's
per-row and per-column fields from the interval walk); ``layer`` (the chosen layer's name) is synced
both ways.
"""

from __future__ import annotations

from typing import Any

import traitlets

from convolab.widgets.base import LabWidget, lab_call


def _spec_dict(model: Any) -> dict[str, Any]:
    from convolab.model.sequential import Sequential
    from convolab.model.spec import load_spec

    if isinstance(model, Sequential):
        return model.to_spec().to_dict()
    try:
        return load_spec(model).to_dict()
    except (ValueError, TypeError, OSError) as exc:
        raise ValueError(f"model must be a convolab Sequential, a zoo name or a spec: {exc}") from None


class Explorer(LabWidget):
    """The summary table of ``model`` (a ``Sequential``, a zoo name or a spec), fields on hover."""

    layer = traitlets.Unicode("").tag(sync=True)

    def __init__(self, model: Any, layer: str | None = None) -> None:
        from convolab.lab.api_model import analyze_spec
        from convolab.limits import LAB_MAX_LAYERS

        data = lab_call(analyze_spec, _spec_dict(model), LAB_MAX_LAYERS)
        names = [row["name"] for row in data["layers"]]
        if layer is None:
            spatial = [row["name"] for row in data["layers"] if row["fields"]]
            layer = spatial[0] if spatial else names[0]
        elif layer not in names:
            raise ValueError(f"layer {layer!r} is not a layer of {data['name']}; layers: {', '.join(names)}")
        super().__init__(_view="explorer", data=data, layer=layer)

    @traitlets.validate("layer")
    def _valid_layer(self, proposal: Any) -> str:
        names = [row["name"] for row in self.data.get("layers", [])]
        if names and proposal["value"] not in names:
            raise traitlets.TraitError(f"layer {proposal['value']!r} is not one of {', '.join(names)}")
        return str(proposal["value"])

"""Lecture snippet (a): two Dense(1) layers without bias squeeze a batch of boxes to one number each.

A batch of 64 samples, each 4 boxes of 2 numbers: ``(64, 4, 2)``. Dense acts on the LAST axis (as in
Keras), so the first Dense(1) maps every box's 2 numbers to 1: ``(64, 4, 1)``, squeezed to ``(64, 4)``.
The second maps the 4 box values to 1: ``(64, 1)``, squeezed to ``(64,)``.

Weights are printed Keras-style ``(in, out)``: Keras's kernel is ``(2, 1)``. PyTorch (and convolab, which
stores ``nn.Linear``'s layout) keeps the transpose ``(out, in) = (1, 2)``.

Run: ``python examples/lecture_a_dense_squeeze.py`` (or open it as a notebook: ``# %%`` cells).
"""

# %%
import torch

from convolab import Dense


def keras_shape(layer: Dense) -> tuple[int, ...]:
    """Keras's kernel shape (in, units): the transpose of the stored PyTorch weight (units, in)."""
    return tuple(reversed(layer.weight.shape))


def main() -> dict:
    torch.manual_seed(0)
    boxes = torch.rand(64, 4, 2)  # (batch, boxes, coordinates)

    # %% first Dense(1): 2 numbers per box -> 1
    dense1 = Dense(1, use_bias=False)
    h = dense1(boxes)  # (64, 4, 1)
    squeezed = h.squeeze(-1)  # (64, 4)
    print(f"input {tuple(boxes.shape)} -> Dense(1) {tuple(h.shape)} -> squeeze {tuple(squeezed.shape)}")
    print(f"  weight (Keras, in x out) {keras_shape(dense1)}; PyTorch stores {tuple(dense1.weight.shape)}")

    # %% second Dense(1): 4 box values -> 1
    dense2 = Dense(1, use_bias=False)
    out = dense2(squeezed)  # (64, 1)
    final = out.squeeze(-1)  # (64,)
    print(f"{tuple(squeezed.shape)} -> Dense(1) {tuple(out.shape)} -> squeeze {tuple(final.shape)}")
    print(f"  weight (Keras, in x out) {keras_shape(dense2)}; PyTorch stores {tuple(dense2.weight.shape)}")
    return {
        "dense1_output": tuple(h.shape),
        "squeezed1": tuple(squeezed.shape),
        "dense1_weight": keras_shape(dense1),
        "dense2_output": tuple(out.shape),
        "squeezed2": tuple(final.shape),
        "dense2_weight": keras_shape(dense2),
    }


if __name__ == "__main__":
    main()

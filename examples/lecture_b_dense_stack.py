"""Lecture snippet (b): Dense(3) -> Dense(1) -> Dense(1) on the same boxes, 13 parameters.

All three layers are without bias, so the parameters are the kernels alone: (2, 3) + (3, 1) + (4, 1)
= 6 + 3 + 4 = 13. Shapes: ``(64, 4, 2) -> (64, 4, 3) -> (64, 4, 1)``, squeeze to ``(64, 4)``, then
``-> (64, 1)``. Kernel shapes are printed Keras-style ``(in, out)``; PyTorch stores the transpose.
The shapes and counts come from the static analysis, and a real forward pass confirms them.

Run: ``python examples/lecture_b_dense_stack.py``.
"""

# %%
import torch

from convolab import Dense, analyze


def main() -> dict:
    first, second = Dense(3, use_bias=False), Dense(1, use_bias=False)
    head = Dense(1, use_bias=False)

    # %% the static analysis answers without running anything
    a = analyze([first, second], (4, 2))
    b = analyze([head], (4,))
    shapes = [li.output_shape for li in a.layers] + [li.output_shape for li in b.layers]
    weights = [(2, 3), (3, 1), (4, 1)]  # Keras (in, out); the analysis counts 6, 3 and 4
    params = [li.params for li in a.layers] + [li.params for li in b.layers]
    for (i, o), p, s in zip(weights, params, shapes, strict=True):
        out = ", ".join(map(str, (64, *s)))
        print(f"Dense({o}): kernel (Keras, in x out) ({i}, {o}) = {p} parameters, output ({out})")
    total = sum(params)
    print(f"Total parameters: {total}")

    # %% a real forward pass agrees
    torch.manual_seed(0)
    boxes = torch.rand(64, 4, 2)
    y = head(second(first(boxes)).squeeze(-1))  # (64, 4, 3) -> (64, 4, 1) -> (64, 4) -> (64, 1)
    print(f"forward: {tuple(boxes.shape)} -> {tuple(y.shape)}")
    real = [tuple(reversed(m.weight.shape)) for m in (first, second, head)]
    return {"weights": real, "params": params, "total": total, "output": tuple(y.shape)}


if __name__ == "__main__":
    main()

"""Lecture snippet (c): a strided convolution on a batch of full-HD images, answered without running.

Keras: ``Conv2D(16, (5, 5), strides=5, use_bias=False)`` on ``(64, 1920, 1080, 3)`` images gives
``(64, 384, 216, 16)`` with 5 * 5 * 3 * 16 = 1,200 parameters; ``Flatten`` gives ``(64, 1327104)``;
``Dense(1, use_bias=False)`` then has 1,327,104 parameters: the fully connected layer costs 1,106 times
the convolution. The input batch alone is 1.5 GiB of float32: the static analysis answers from the layers'
arithmetic and allocates none of it. Shapes are printed channels-last, like Keras.

Run: ``python examples/lecture_c_conv_full_hd.py``.
"""

# %%
from convolab import Conv2D, Dense, Flatten, analyze
from convolab.limits import format_bytes

BATCH = 64
IMAGE = (3, 1920, 1080)  # convolab's (C, H, W) for Keras's (1920, 1080, 3)


def keras_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """``(C, H, W)`` -> Keras's ``(batch, H, W, C)``; vectors keep their order."""
    shape = (shape[1], shape[2], shape[0]) if len(shape) == 3 else shape
    return (BATCH, *shape)


def main() -> dict:
    layers = [Conv2D(16, (5, 5), strides=5, use_bias=False), Flatten(), Dense(1, use_bias=False)]
    a = analyze(layers, IMAGE, batch=BATCH)
    size = format_bytes(a.input_bytes)  # binary units, as everywhere convolab prints a size
    print(f"input {keras_shape(IMAGE)}: {a.input_bytes:,} bytes of float32 ({size}), never allocated")
    for li in a.layers:
        print(f"{li.type:8s} -> {keras_shape(li.output_shape)}  {li.params:,} parameters")
    conv, _, dense = a.layers
    print(f"the Dense layer has {dense.params / conv.params:,.0f} times the convolution's parameters")
    return {
        "input": keras_shape(IMAGE),
        "input_bytes": a.input_bytes,
        "shapes": [keras_shape(li.output_shape) for li in a.layers],
        "params": [li.params for li in a.layers],
    }


if __name__ == "__main__":
    main()

"""Lecture snippet (d): the two convolutional autoencoders and their summaries.

``seed-upsampling``: Conv2D + MaxPooling2D(padding='same') down to (4, 4, 4), then Conv2D + UpSampling2D
back up (28 -> 14 -> 7 -> 4, 4 -> 8 -> 16 -> 14 -> 28). ``seed-transpose``: 'valid' convolutions and
pools down to (3, 3, 4), Conv2DTranspose + UpSampling2D back up. Both have 3,369 parameters, per layer
160, 1160, 292, 148, 296, 1168, 145, exactly Keras's ``model.summary()``. The summary adds MACs, memory
and receptive fields (`convolab summary seed-upsampling` prints the same table).

Run: ``python examples/lecture_d_autoencoders.py``.
"""

# %%
from rich.console import Console

from convolab import analyze, render_table


def main() -> dict:
    console = Console(width=140)
    result = {}
    for name in ("seed-upsampling", "seed-transpose"):
        # %% the table, as Keras users know it (channels-last shapes)
        a = analyze(name)
        console.print(render_table(a, channels_last=True))
        per_layer = [li.params for li in a.layers if li.params]
        print(f"{name}: parameters per layer {per_layer}, total {a.total_params:,}")
        result[name] = {
            "per_layer": per_layer,
            "total": a.total_params,
            "sizes": [li.output_shape[1] for li in a.layers],
        }
    return result


if __name__ == "__main__":
    main()

# %% [markdown]
# # Layers, summary, receptive fields and filters, from a notebook
#
# A percent-format notebook: each `# %%` starts a cell. Open it in Jupyter (jupytext), VS Code or PyCharm,
# or run it whole: `python examples/notebook_layers.py`. It needs no data and trains nothing;
# `tests/test_notebooks.py` runs it cell by cell.

# %%
import numpy as np
import torch

import convolab
from convolab import Conv2D, MaxPool2D, Sequential, UpSampling2D

# %% [markdown]
# ## Build a model from layers, like Keras
#
# `input_shape` is channels-first `(C, H, W)` (PyTorch's layout); padding, strides and initialisation are
# Keras's (glorot-uniform kernels, zero bias), so the parameter counts are Keras's too.

# %%
torch.manual_seed(0)
model = Sequential(
    [
        Conv2D(8, 3, padding="same", activation="relu", name="conv1"),
        MaxPool2D(2, padding="same", name="pool1"),
        Conv2D(4, 3, padding="same", activation="relu", name="conv2"),
        MaxPool2D(2, padding="same", name="code"),
        UpSampling2D(2, name="up1"),
        Conv2D(8, 3, padding="same", activation="relu", name="conv3"),
        UpSampling2D(2, name="up2"),
        Conv2D(1, 3, padding="same", activation="sigmoid", name="out"),
    ],
    input_shape=(1, 28, 28),
    name="small-ae",
    latent="code",
)

# %% [markdown]
# ## `model.summary()`
#
# The table `convolab summary` prints: shapes, parameters (Keras's numbers), MACs, activation memory and
# exact receptive fields. In a terminal it is printed; in Jupyter it is shown as an HTML table where it is
# called (once: as the cell's last expression it is not shown again). Nothing runs: it is arithmetic on
# the layers.

# %%
summary = model.summary()
summary  # noqa: B018 (a cell's last expression: Jupyter displays it)

# %%
print(f"{summary.total_params:,} parameters, {summary.total_macs:,} MACs per image")
print({li.name: li.params for li in summary.layers if li.params})

# %% [markdown]
# ## Receptive fields
#
# `receptive_field` holds, per axis, the largest field, the centre pixel's field and the jump (in input
# pixels); `pixel_field(row, col)` gives the exact input rows and columns one output pixel sees.

# %%
for li in summary.layers:
    if li.receptive_field:
        h = li.receptive_field["h"]
        where = f"{li.name:6s} {str(li.output_shape):14s}"
        print(f"{where} field max {h['max']:3d}  centre {h['center']:3d}  jump {h['jump']}")

# %%
code = summary.layer("code")
print("code pixel (1, 2) sees input rows, cols", code.pixel_field(1, 2))

# %% [markdown]
# ## The model is a plain `torch.nn.Module`

# %%
x = torch.rand(4, 1, 28, 28)
with torch.no_grad():
    y = model(x)
    z = model.encode(x)
print("forward", tuple(x.shape), "->", tuple(y.shape), "| code", tuple(z.shape))
assert isinstance(model, torch.nn.Module) and tuple(y.shape) == (4, 1, 28, 28)

# %% [markdown]
# ## Filters: a classic kernel is a fixed-weight `Conv2D`
#
# `convolab.filter2d` cross-correlates an image with a kernel by the very convolution `Conv2D` runs, so a
# Sobel filter and `Conv2D.from_kernel(sobel_x)` give the same numbers.

# %%
image = np.zeros((28, 28), np.float32)
image[8:20, 8:20] = 1.0  # a bright square
sobel_x = convolab.get_kernel("sobel_x")
edges = convolab.filter2d(image, sobel_x)
layer = Conv2D.from_kernel(sobel_x)
with torch.no_grad():
    same = layer(torch.from_numpy(image)[None, None])[0, 0].numpy()
difference = float(np.abs(edges - same).max())
print(
    "sobel_x: left edge",
    edges[14, 8],
    "right edge",
    edges[14, 19],
    "| max |difference| vs Conv2D:",
    difference,
)
magnitude = convolab.gradient_magnitude(image)
print("gradient magnitude > 0 on", int((magnitude > 0).sum()), "pixels (the square's outline)")

# %% [markdown]
# ## The first layer's filters (random until trained: see `notebook_autoencoder.py`)

# %%
import matplotlib.pyplot as plt

kernels = model.get_layer("conv1").weight.detach()[:, 0]  # (8, 3, 3): PyTorch's (out, in, kh, kw)
fig, axes = plt.subplots(1, len(kernels), figsize=(len(kernels), 1.3))
for ax, k in zip(axes, kernels, strict=True):
    ax.imshow(k, cmap="gray")
    ax.axis("off")
fig.suptitle("conv1 kernels at initialisation")
plt.show()

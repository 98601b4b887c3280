# %% [markdown]
# # Train the lecture's autoencoder from a notebook
#
# A percent-format notebook: each `# %%` starts a cell (Jupyter with jupytext, VS Code, PyCharm), or run
# it whole: `python examples/notebook_autoencoder.py`.
#
# Settings, read from the environment so the same file runs as a quick test:
#
# - `CONVOLAB_EXAMPLE_SMALL=1`: 1 epoch on 600 images (`tests/test_notebooks.py` runs it so, cell by
#   cell); otherwise 5 epochs on Fashion-MNIST's 10,000 test images (8,000 train, 2,000 validation).
# - `CONVOLAB_EXAMPLE_DATA=DIR`: a folder holding Fashion-MNIST's IDX files; otherwise the usual search
#   (`CONVOLAB_DATA`, the user cache, Debian's `/usr/share/datasets/fashion-mnist`, then a verified
#   download).
#
# The run folder goes to `runs/seed-upsampling-memory-<time>` under the working directory.

# %%
import os

import torch

import convolab

SMALL = os.environ.get("CONVOLAB_EXAMPLE_SMALL") == "1"
DATA_DIR = os.environ.get("CONVOLAB_EXAMPLE_DATA") or None
N_IMAGES, N_VAL, EPOCHS = (600, 100, 1) if SMALL else (10_000, 2_000, 5)

# %% [markdown]
# ## The data as arrays, as `keras.datasets.mnist.load_data()` gives them
#
# uint8 `(N, 28, 28)`. `fit` also takes `(N, H, W, C)`, `(N, C, H, W)`, floats in [0, 1], torch tensors,
# or simply a dataset name (`"mnist"`, `"fashion-mnist"`, `"folder:PATH"`).

# %%
mnist = convolab.load_dataset("fashion-mnist", "test", data_dir=DATA_DIR, limit=N_IMAGES)
x = mnist.images[:, 0].numpy()  # (N, 28, 28) uint8
x_train, x_test = x[:-N_VAL], x[-N_VAL:]
print("x_train", x_train.shape, x_train.dtype, "| x_test", x_test.shape)

# %% [markdown]
# ## The model: the lecture's first autoencoder, built and summarised

# %%
model = convolab.Sequential.from_spec("seed-upsampling")
model.summary()

# %% [markdown]
# ## `fit`: Keras's call, convolab's run folder
#
# The options are `convolab train`'s (`epochs`, `batch_size`, `lr`, `seed`, `out`, `device`, `amp`,
# `threads`, ...). As Keras's `model.fit`, it trains `model` in place (it ends with the last epoch's
# weights; `run.model` is the best checkpoint). Interrupt the kernel at any time: `last` is saved, and
# `convolab.resume(path)` continues exactly where it stopped.

# %%
run = convolab.fit(
    model, x_train, validation_data=(x_test, x_test), epochs=EPOCHS, batch_size=256, figures=False
)
run  # noqa: B018 (a cell's last expression: Jupyter displays it)

# %% [markdown]
# ## History, as Keras spells it

# %%
print("loss    ", [round(v, 4) for v in run.history["loss"]])
print("val_loss", [round(v, 4) for v in run.history["val_loss"]])
print("val_psnr", [round(v, 2) for v in run.history["val_psnr"]])

# %% [markdown]
# ## Evaluate: the numbers `convolab evaluate RUN` prints

# %%
report = run.evaluate()
model_m, base = report["metrics"], report["baseline"]
print(
    f"{report['eval_set']} ({report['n']} images): PSNR {model_m['psnr']:.2f} dB, "
    f"SSIM {model_m['ssim']:.3f} | mean image: PSNR {base['psnr']:.2f} dB"
)

# %% [markdown]
# ## Reconstructions: arrays, and a figure Jupyter shows

# %%
rec = run.reconstruct(n=10)
print("originals", rec.originals.shape, "reconstructions", rec.reconstructions.shape, "->", rec.path)
rec  # noqa: B018 (a cell's last expression: Jupyter displays it)

# %% [markdown]
# ## The figures `convolab train` draws (curves, kernels, feature maps, latent PCA)

# %%
figures = run.figures()
print(sorted(figures))

# %% [markdown]
# ## The trained model is a plain `torch.nn.Module`

# %%
net = run.module
batch = torch.from_numpy(x_test[:4]).float().div(255).unsqueeze(1)  # (4, 1, 28, 28)
with torch.no_grad():
    out = net(batch.to(next(net.parameters()).device))
    code = net.encode(batch.to(next(net.parameters()).device))
print(isinstance(net, torch.nn.Module), type(net).__name__, tuple(out.shape), "| code", tuple(code.shape))

# %% [markdown]
# ## Later, or in another notebook: `load_run` gives the same object back

# %%
again = convolab.load_run(run.path)
assert again.history["val_loss"] == run.history["val_loss"]
again  # noqa: B018 (a cell's last expression: Jupyter displays it)

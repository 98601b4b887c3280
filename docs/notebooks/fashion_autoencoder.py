# %% [markdown]
# # An autoencoder for Fashion-MNIST, in a notebook
#
# The source of `docs/notebooks/fashion_autoencoder.ipynb`: `python scripts/make_notebooks.py` runs it in a
# fresh Jupyter kernel and writes the notebook with its outputs (`tests/test_notebook_docs.py` checks the
# two agree and runs it). Small on purpose, so it runs in CI in seconds: 1,200 Fashion-MNIST images
# (from Debian's `dataset-fashion-mnist`, or `convolab data fetch fashion-mnist`), two epochs.

# %%
import torch

import convolab

torch.manual_seed(0)
ds = convolab.load_dataset("fashion-mnist", "train", limit=1200)
x = ds.images[:, 0].numpy()  # (1200, 28, 28) uint8, as keras.datasets.fashion_mnist gives them
x_train, x_test = x[:1000], x[1000:]
print("x_train", x_train.shape, x_train.dtype, "| x_test", x_test.shape)

# %% [markdown]
# ## The lecture's first autoencoder, and its summary
#
# `summary()` shows the table where it is called, even in the middle of a cell, and returns it as data.

# %%
model = convolab.Sequential.from_spec("seed-upsampling")
summary = model.summary()
print(f"{summary.total_params:,} parameters, {summary.total_macs:,} MACs per image")

# %% [markdown]
# ## Train, as Keras does: `model.fit`
#
# `model.fit` trains `model` itself (in place) through the code `convolab train` runs, and returns the
# run. A one-cycle learning rate (a high peak, `docs/training.md`) gets this small set past the mean image
# in two epochs. While it trains, one output shows a bar (steps, loss, images/s, time left) under a short
# line per finished epoch; at the end the bar goes and the lines stay. The run folder is like any
# `convolab train` run: `convolab evaluate`, `figures` and `train --resume` read it.

# %%
run = model.fit(x_train, validation_data=(x_test, x_test), epochs=2, batch_size=32, lr=2e-2,
                lr_schedule="onecycle", out="runs/fashion", figures=False)  # fmt: skip
run  # noqa: B018 (a cell's last expression: Jupyter displays it)

# %% [markdown]
# ## `predict` and `evaluate` on uint8 images
#
# As Keras takes them: NumPy uint8 (divided by 255), any image layout; `predict` gives NumPy float32.
# `model` holds the last epoch's weights, so its loss on `x_test` is the last epoch's `val_loss`.

# %%
y = model.predict(x_test[:8])
print("predict:", x_test[:8].shape, x_test.dtype, "->", y.shape, y.dtype)
print(f"evaluate: {model.evaluate(x_test):.4f} | last val_loss: {run.history['val_loss'][-1]:.4f}")

# %% [markdown]
# ## History, evaluation, reconstructions

# %%
print("val_loss", [round(v, 4) for v in run.history["val_loss"]])
report = run.evaluate()
m, base = report["metrics"], report["baseline"]
print(f"{report['eval_set']} ({report['n']} images): PSNR {m['psnr']:.2f} dB, SSIM {m['ssim']:.3f} "
      f"| the mean image: PSNR {base['psnr']:.2f} dB")  # fmt: skip
run.reconstruct(n=8)

# %% [markdown]
# ## Every figure of the run, inline (and their files)

# %%
paths = run.figures()
print(sorted(paths))

"""Every limit convolab enforces, in one place: sizes, factors, nesting, counts, memory and time.

The CLI, the Python API and the lab all check against these numbers, so one request can never ask for
unbounded work, and a refusal is one ``LimitError`` (a ``ValueError``) that names what was too big, by
how much, and the limit. Memory is estimated *before* anything is allocated.

This module imports nothing heavy (no torch, no numpy): anything may import it.

Sections are grouped by the part of convolab that checks them; each constant says what it bounds.
Byte counts are binary (KiB, MiB, GiB), printed by ``format_bytes``.
"""

from __future__ import annotations

__all__ = ["LimitError", "check_bytes", "check_count", "format_bytes", "format_number"]


class LimitError(ValueError):
    """A request over one of convolab's limits (a user mistake: the CLI prints one ``error:`` line)."""


def format_bytes(n: float) -> str:
    """``1536`` -> ``'1.5 KiB'``; binary units everywhere convolab prints a size."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(value) < 1024 or unit == "PiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def check_bytes(what: str, nbytes: float, limit: int, hint: str = "") -> None:
    """Refuse ``what`` before allocating it if it would need more than ``limit`` bytes."""
    if nbytes > limit:
        tail = f"; {hint}" if hint else ""
        need, cap = format_bytes(nbytes), format_bytes(limit)
        raise LimitError(f"{what} needs {need}, over the limit of {cap}{tail}")


def check_count(what: str, n: float, limit: float) -> None:
    """Refuse a count (layers, images, samples, ...) above ``limit``."""
    if n > limit:
        raise LimitError(f"{what} is {format_number(n)}, over the limit of {format_number(limit)}")


def format_number(n: float) -> str:
    """``1e+30`` style for any number, an int too large for a float included (10**400)."""
    try:
        return f"{n:g}"
    except OverflowError:
        return f"an integer of about {int(int(n).bit_length() * 0.30103) + 1} digits"


# --- specs: files and text that describe a model (spec.py) -----------------------------------------------
MAX_SPEC_BYTES = 1 << 20  # a YAML/JSON spec file or string
MAX_SPEC_DEPTH = 32  # nesting of lists/dicts inside a spec (deep JSON/YAML would recurse)
MAX_LAYERS = 1_000  # layers in one model

# --- model arithmetic: layer arguments and shapes (layers/, analysis.py, model.py) ---------------------
MAX_SIDE = 1 << 16  # any spatial side of an input or of an intermediate map
MAX_CHANNELS = 1 << 16  # channels / filters / units of one layer
MAX_FACTOR = 64  # upsampling size, bed-of-nails factor, stride, dilation
MAX_KERNEL_SIDE = 1_025  # a layer's kernel side
MAX_ANALYSIS_BYTES = 1 << 30  # what the static analysis may allocate (receptive-field arrays and such)
MAX_MODEL_BYTES = 4 << 30  # parameters of a model built for real (float32; analysis.check_memory counts
# x4 for training: weights, gradients and Adam's two moments)
MAX_ACTIVATION_BYTES = 8 << 30  # activations of one forward pass of one batch (float32)

# --- lab: conv arithmetic animation and layer formulas (lab/arith_trace.py, lab/api_arith.py) ----------
ARITH_MAX_GRID = 16  # rows or columns of the animated input grid
ARITH_MAX_CHANNELS = 4  # input channels of the animated Conv2D (one kernel slice and partial sum each)
ARITH_MAX_KERNEL = 7  # kernel or pool side of the animated layer
ARITH_MAX_STRIDE = 4  # stride of the animated layer
ARITH_MAX_DILATION = 4  # dilation rate of the animated convolution
ARITH_MAX_FACTOR = 4  # upsampling / bed-of-nails factor of the animated layer
ARITH_MAX_VALUE = 1e6  # magnitude of any grid, kernel or bias value
ARITH_MAX_OUTPUT_SIDE = 80  # rows or columns of the animated layer's output (and full transposed output)
ARITH_MAX_TAPS = 40_000  # cells written out in one trace (positions x window cells), bounds the JSON

# --- training (convolab.train): what one run may ask for ---------------------------------------------
MAX_LEARNING_RATE = 10.0  # Adam steps of this size already leave any sensible loss; 1e38 overflowed Adam
MAX_EPOCHS = 100_000  # epochs of one run (more is a typo: 10**20 would train until killed); each adds
# ~230 bytes of history to state.json, so MAX_STATE_BYTES holds the history of the longest run
MAX_WORKERS = 256  # processes reading images for one run
MAX_BATCH_SIZE = 10**12  # images per step, and a dataset's --limit (more than any dataset; 1e21 overflowed
# int64 inside torch): also the largest batch `summary --batch` / analyze(batch=) describe
MAX_SEED = 2**63 - 1  # a run's seed (torch and NumPy take 64-bit seeds)
MAX_STEP_COUNT = 10**12  # --checkpoint-every, --log-every (steps)
MAX_COMPARE_RUNS = 64  # runs in one `compare` (each is loaded and evaluated)
MAX_NOISE_STD = 100.0  # denoising noise std (inputs are clipped to [0, 1]: more is all 0 or 1 already)
MAX_CONFIG_BYTES = 1 << 20  # a --config file (YAML/JSON)
MAX_STATE_BYTES = 32 << 20  # a checkpoint's state.json: RNG states (~7 KiB), the spec (<= MAX_SPEC_BYTES),
# ~230 bytes of history per epoch (23 MB at MAX_EPOCHS); read with this cap before parsing (~5x in memory)
# Images given in Python as arrays (fit, predict, evaluate), counted as the float32 copy convolab makes
# (checked from the shape before any copy): 1 GiB is 342k MNIST-sized or 87k CIFAR-sized images; a
# larger set trains from a folder: dataset, streamed.
MAX_ARRAY_BYTES = 1 << 30
# Evaluation (validation, test, predict) reads chunks of max(batch, EVAL_CHUNK_BYTES of float32 input)
# images, at most EVAL_CHUNK_IMAGES beyond the batch (engine.predict.eval_chunk): bounded by the batch.
EVAL_CHUNK_BYTES = 4 << 20
EVAL_CHUNK_IMAGES = 1024
# --- lab: the local web server (lab/) ------------------------------------------------------------------
LAB_MAX_BODY_BYTES = 4 << 20  # one request body (uploads arrive base64 inside JSON, ~4/3 of the file)
LAB_MAX_SPEC_CHARS = 64 << 10  # a spec typed in the page
LAB_MAX_LAYERS = 200  # layers of a spec the lab analyses or runs
LAB_MAX_SIDE = 2_048  # an input side the designer analyses (the field arrays grow with it)
LAB_MAX_RUN_SIDE = 512  # an input side the lab runs a forward pass on (activations, reconstructions)
LAB_MAX_IMAGE_SIDE = 1_024  # either side of an uploaded or processed image
LAB_MAX_IMAGE_PIXELS = 1 << 20  # pixels of an uploaded image (checked from its header, before decoding)
LAB_MAX_GRID = 16  # cells per side of the upsampling panel's input grid
LAB_MAX_UP_FACTOR = 4  # the upsampling panel's factor
LAB_MAX_FILTER_KERNEL = 31  # side of a filter kernel in the filters panel
LAB_MAX_FILTER_STRIDE = 16
LAB_MAX_SAMPLES = 32  # test-set samples per request
LAB_MAX_INDEX = 10_000_000  # a dataset index or offset before the split's own size is known
LAB_MAX_RUN_NAME = 200  # characters of a run name
LAB_MAX_RUN_DEPTH = 3  # runs are found at most this many folders below the runs folder
LAB_MAX_TILES = 512  # channel tiles the activations view returns (all layers together)
LAB_MAX_TILE_VALUES = 4 << 20  # numbers in one activations answer (all maps together)
LAB_WORKERS = 2  # worker processes doing the CPU work (analysis, filters, forward passes)
LAB_MAX_QUEUED = 8  # requests waiting for a worker before the lab answers 503
LAB_TASK_SECONDS = 30.0  # one request's CPU work; past it the worker is killed and replaced
LAB_WORKER_BYTES = 2 << 30  # address space a worker may add to what it has after its imports (RLIMIT_AS)
# --- filters: classic kernels and the images they filter (filters/, cli/filters.py) ---------------------
MAX_FILTER_KERNEL_SIDE = 1_025  # side of a box/gaussian/log kernel (from --size, or 2 * radius(sigma) + 1)
MAX_FILTER_PIXELS = 1 << 25  # pixels (W x H) of an image to filter: 33.5 M, e.g. 8192 x 4096
MAX_FILTER_BYTES = 4 << 30  # estimated float32 working memory of one `filter` call (all panels)
MAX_FILTER_FILE_BYTES = 1 << 30  # size of an image file to read
MAX_FILTER_KERNELS = 64  # kernels (-k, repeated) of one `filter` call

# --- data: previews of datasets (data/preview.py, cli/data.py) -----------------------------------------
MAX_GRID_SAMPLES = 1_000  # samples in a `data show` grid; images per row of a reconstruct/compare figure
MAX_RESIZE_SIDE = 8_192  # a side datasets are resized to (image_size, --image-size)

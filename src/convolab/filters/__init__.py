"""Classic image filters on the Conv2D convolution core: kernels, ``filter2d``, edges, image I/O.

Convention: cross-correlation (kernels are not flipped), TF 'same'/'valid' padding, borders 'zeros'
(default, as Conv2D), 'reflect' or 'replicate'. docs/filters.md compares it with SciPy, OpenCV and
scikit-image.
"""

from convolab.filters.apply import filter2d, output_size
from convolab.filters.edges import (
    gradient_direction,
    gradient_magnitude,
    log_edges,
    sobel_gradients,
    zero_crossings,
)
from convolab.filters.images import display_magnitude, display_range, load_image, save_image
from convolab.filters.kernels import (
    KERNELS,
    KernelSpec,
    box,
    gaussian,
    gaussian_radius,
    get_kernel,
    identity,
    laplacian,
    laplacian_of_gaussian,
    prewitt_x,
    prewitt_y,
    scharr_x,
    scharr_y,
    sharpen,
    sobel_x,
    sobel_y,
)

__all__ = [
    "KERNELS",
    "KernelSpec",
    "box",
    "display_magnitude",
    "display_range",
    "filter2d",
    "gaussian",
    "gaussian_radius",
    "get_kernel",
    "gradient_direction",
    "gradient_magnitude",
    "identity",
    "laplacian",
    "laplacian_of_gaussian",
    "load_image",
    "log_edges",
    "output_size",
    "prewitt_x",
    "prewitt_y",
    "save_image",
    "scharr_x",
    "scharr_y",
    "sharpen",
    "sobel_gradients",
    "sobel_x",
    "sobel_y",
    "zero_crossings",
]

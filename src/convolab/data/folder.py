"""``folder:PATH`` datasets: PNG/JPEG images, optionally in one subfolder per class.

Layouts understood (``split`` is ``train`` or ``test``):

- ``PATH/<split>/...`` when such a subfolder exists, else ``PATH`` itself (for ``train`` only);
- images directly in that folder: unlabelled; images in subfolders: one class per subfolder
  (sorted names -> labels 0, 1, ...). Mixing both is refused.

Images are converted to gray (``L``) or RGB and resized with PIL's bilinear filter to a common size;
by default the colour is RGB if any image has colour, and the size must be the same for all images.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from convolab.data.dataset import ImageDataset, parse_color, parse_image_size

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _collect(root: Path) -> tuple[list[Path], list[int] | None, list[str] | None]:
    """Image paths, labels and class names found under ``root``."""
    direct = _images_in(root)
    class_dirs = sorted(d for d in root.iterdir() if d.is_dir() and _images_in(d))
    if direct and class_dirs:
        raise ValueError(
            f"{root} holds images both directly and in subfolders ({class_dirs[0].name}/...); put all "
            "images in class subfolders (labelled) or all in one folder (unlabelled)"
        )
    if direct:
        return direct, None, None
    if not class_dirs:
        raise ValueError(f"no PNG/JPEG images found in {root} or its subfolders")
    paths, labels = [], []
    for label, d in enumerate(class_dirs):
        imgs = _images_in(d)
        paths += imgs
        labels += [label] * len(imgs)
    return paths, labels, [d.name for d in class_dirs]


def collect_split(
    path: str | Path, split: str
) -> tuple[Path, list[Path], list[int] | None, list[str] | None]:
    """The folder, image paths, labels and class names of one split of a folder dataset
    (``train/``/``test/`` subfolders if present, else the folder itself serves as the train split)."""
    root = Path(path).expanduser()
    if not root.is_dir():
        raise ValueError(f"folder dataset: {root} is not a directory")
    if (root / split).is_dir():
        root = root / split
    elif split != "train":
        raise ValueError(
            f"folder dataset {root} has no {split}/ subfolder; use split 'train' and train_val_split"
        )
    try:
        return (root, *_collect(root))
    except OSError as exc:  # a folder that cannot be listed (permissions, /proc): one line, not a traceback
        where = exc.filename if exc.filename is not None else root
        raise ValueError(f"folder dataset {root}: cannot read {where}: {exc.strerror or exc}") from None


def _bomb(path: Path, exc: Exception) -> ValueError:
    return ValueError(
        f"cannot read image {path}: over Pillow's decompression-bomb limit of {Image.MAX_IMAGE_PIXELS:,} "
        f"pixels ({exc}); refusing to decode it"
    )


def _open(path: Path, mode: str) -> Image.Image:
    """The image at ``path`` converted to ``mode``; unreadable files and decompression bombs: ValueError."""
    try:
        with Image.open(path) as img:
            return img.convert(mode)
    except Image.DecompressionBombError as exc:  # not an OSError: it escaped as a traceback
        raise _bomb(path, exc) from None
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"cannot read image {path}: {exc}") from exc


def _has_colour(path: Path) -> bool:
    try:
        with Image.open(path) as img:
            return img.mode not in ("1", "L", "LA", "I", "I;16", "F")
    except Image.DecompressionBombError as exc:
        raise _bomb(path, exc) from None
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"cannot read image {path}: {exc}") from exc


def load_folder(
    path: str | Path, split: str = "train", *, image_size=None, color=None, limit: int | None = None
) -> ImageDataset:
    """Load a folder of images as an :class:`ImageDataset`.

    Args:
        path: the folder (``PATH`` of ``folder:PATH``).
        split: ``train`` or ``test``; see the module docstring for the layout.
        image_size: int or ``(h, w)``; required when the images differ in size.
        color: ``gray`` or ``rgb``; default: RGB if any image has colour, else gray.
        limit: keep only the first ``limit`` images (in sorted order).
    """
    root, paths, labels, classes = collect_split(path, split)
    if limit is not None:
        paths, labels = paths[:limit], None if labels is None else labels[:limit]
    mode = parse_color(color) or ("rgb" if any(_has_colour(p) for p in paths) else "gray")
    size = parse_image_size(image_size)
    arrays = []
    for p in paths:
        img = _open(p, "RGB" if mode == "rgb" else "L")
        if size is not None and img.size != (size[1], size[0]):
            img = img.resize((size[1], size[0]), Image.Resampling.BILINEAR)
        arrays.append(np.asarray(img, dtype=np.uint8))
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        raise ValueError(
            f"images in {root} have different sizes {sorted(shapes)[:3]}...; pass image_size "
            "(CLI --image-size) to resize them"
        )
    stack = np.stack(arrays)  # (N, H, W) or (N, H, W, 3)
    images = torch.from_numpy(stack[:, None] if stack.ndim == 3 else stack.transpose(0, 3, 1, 2).copy())
    lab = None if labels is None else torch.tensor(labels, dtype=torch.int64)
    return ImageDataset(f"folder:{path}", split, images.contiguous(), lab, classes, root)

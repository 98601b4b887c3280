"""``load_dataset``: find a dataset (or download it), verify it, decode it into one tensor."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from convolab.data import cifar
from convolab.data.checksums import file_digests, require_verified, verify_file
from convolab.data.dataset import ImageDataset, convert_images
from convolab.data.download import DEFAULT_RETRIES, DEFAULT_TIMEOUT, download_file
from convolab.data.errors import ChecksumError, DatasetNotFoundError, DownloadError
from convolab.data.folder import load_folder
from convolab.data.idx import decode_idx, read_idx_bytes
from convolab.data.locations import (
    candidate_dirs,
    download_dir,
    find_cifar_members,
    find_file,
    owner_of,
    resolve,
    split_present,
)
from convolab.data.registry import DATASETS, FOLDER_PREFIX, DatasetSpec, get_spec

SPLITS = ("train", "test")


def _read_idx_verified(spec: DatasetSpec, folder: Path, fname: str) -> np.ndarray:
    fspec = spec.files[fname]
    path = find_file(folder, fspec)
    if path is None:
        raise ValueError(f"{folder}: {fspec.name} disappeared while loading")
    content = read_idx_bytes(path)
    require_verified(verify_file(path, fspec, content, quick=True), spec.name)
    return decode_idx(content, str(path))


def _read_idx_split(spec: DatasetSpec, folder: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    img_name, lab_name = spec.splits[split]
    images = _read_idx_verified(spec, folder, img_name)
    labels = _read_idx_verified(spec, folder, lab_name)
    if images.ndim != 3 or images.shape[1:] != spec.shape[1:] or images.dtype != np.uint8:
        raise ValueError(
            f"{folder}/{img_name}: expected uint8 (N, 28, 28) images, got {images.dtype} {images.shape}"
        )
    if labels.ndim != 1 or len(labels) != len(images):
        raise ValueError(f"{folder}: {len(images)} images but labels of shape {labels.shape}")
    if len(labels) and int(labels.max()) >= len(spec.classes):
        raise ValueError(f"{folder}/{lab_name}: label {int(labels.max())} out of range")
    return images[:, None], labels  # (N, 1, H, W)


def _read_cifar_split(spec: DatasetSpec, folder: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    archive = find_file(folder, spec.files["cifar-10-binary.tar.gz"])
    if archive is not None:
        require_verified(verify_file(archive, spec.files[archive.name]), spec.name)
        return cifar.read_archive_split(archive, split)
    members = find_cifar_members(folder, spec)
    if members is None:
        raise ValueError(f"{folder}: CIFAR-10 files disappeared while loading")
    for m in cifar.SPLIT_MEMBERS[split]:
        sha = file_digests(members[m])[0]
        if sha != spec.members[m]:
            raise ChecksumError(f"{members[m]} is not the published CIFAR-10 file (sha256 {sha})")
    return cifar.read_member_files(members, split)


def _not_found(
    spec: DatasetSpec, split: str, data_dir, tried: list[tuple[str, str]], partial: str
) -> DatasetNotFoundError:
    files = ", ".join(f.name for f in spec.split_files(split))
    fixes = [
        f"--data-dir DIR (data_dir=DIR) with {files}",
        f"CONVOLAB_DATA=DIR with DIR/{spec.name}/",
        f"`convolab data fetch {spec.name}` (needs internet; then copy {download_dir(spec.name)} "
        "to offline machines)",
    ]
    if spec.name == "fashion-mnist":
        fixes.insert(0, "`sudo apt-get install dataset-fashion-mnist` (Debian/Ubuntu, no download)")
    for other in DATASETS:
        if other != spec.name and (where := resolve(other, split=split)) is not None:
            fixes.append(f"{other} is available offline (found in {where}): use --dataset {other}")
    return DatasetNotFoundError(spec.name, split, tried, fixes, note=partial)


def _locate(spec: DatasetSpec, split: str, data_dir) -> tuple[Path | None, list[tuple[str, str]], str]:
    """First folder holding ``split``; what was tried; a note about other splits found.

    An explicit ``data_dir`` is the only place looked in (the folder itself, or ``data_dir/<name>``):
    a folder the user named that holds no usable files is refused, never replaced by another one."""
    tried: list[tuple[str, str]] = []
    partial = ""
    for label, folder in candidate_dirs(spec.name, data_dir):
        if data_dir is not None and label != "--data-dir":
            break
        if split_present(folder, spec, split):
            if spec.kind == "idx" and (owner := owner_of(folder, split)) not in (None, spec.name):
                tried.append((f"{label} {folder}", f"holds {owner}, not {spec.name}"))
                continue
            return folder, tried, ""
        others = [s for s in spec.splits if s != split and split_present(folder, spec, s)]
        what = "no such folder" if not folder.is_dir() else "files missing"
        if others:
            what = f"has only the {'/'.join(others)} split"
            if not partial:
                partial = (
                    f"only the {others[0]} split of {spec.name} is in {folder}: use split={others[0]!r} "
                    f"(CLI --split {others[0]}) and carve a validation set with train_val_split"
                )
        tried.append((f"{label} {folder}", what))
    return None, tried, partial


def fetch(
    name: str,
    *,
    data_dir: str | os.PathLike | None = None,
    splits: tuple[str, ...] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    retries: int = DEFAULT_RETRIES,
    progress: bool = True,
) -> Path:
    """Download the files of ``name`` (all splits by default) that are not yet in its download folder.

    Files already there are kept only if they verify; a bad one is replaced. Returns the folder.

    Raises:
        DownloadError: a file could not be fetched from any mirror (names every URL tried).
    """
    spec = get_spec(name)
    dest = download_dir(name, data_dir)
    wanted = dict.fromkeys(f for s in (splits or tuple(spec.splits)) for f in spec.splits[s])
    for fname in wanted:
        fspec = spec.files[fname]
        have = find_file(dest, fspec)
        if have is not None and verify_file(have, fspec).ok:
            continue
        try:
            download_file(fspec, spec.mirrors, dest, timeout=timeout, retries=retries, progress=progress)
        except DownloadError as exc:
            hint = (
                f"check the network/proxy (https_proxy), or copy {fspec.name} from a machine with "
                f"internet into {dest} (or into a folder given as --data-dir, or CONVOLAB_DATA=DIR "
                f"with DIR/{name}/)"
            )
            raise DownloadError(exc.filename, exc.attempts, hint) from None
    return dest


def load_dataset(
    name: str,
    split: str = "train",
    *,
    data_dir: str | os.PathLike | None = None,
    limit: int | None = None,
    download: bool = True,
    image_size=None,
    color=None,
) -> ImageDataset:
    """Load a dataset split as one uint8 tensor, from the first place that has it (see locations.py).

    Args:
        name: ``mnist``, ``fashion-mnist``, ``kmnist``, ``cifar10`` or ``folder:PATH``.
        split: ``train`` or ``test``.
        data_dir: the folder holding the files (themselves or in ``<data_dir>/<name>``); when given, the
            only place looked in (a download goes there too).
        limit: keep only the first ``limit`` samples.
        download: fetch from the official mirrors (verified) when the data are nowhere on disk.
        image_size: resize to an int or ``(h, w)``; color: ``gray`` or ``rgb``.

    Raises:
        DatasetNotFoundError: not found and not downloadable; its one-line message lists every place
            tried and the fixes. ChecksumError: a file exists but is not the published one.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit must be a positive int, got {limit!r}")
    if name.startswith(FOLDER_PREFIX):
        return load_folder(name[len(FOLDER_PREFIX) :], split, image_size=image_size, color=color, limit=limit)
    spec = get_spec(name)
    folder = _find_or_fetch(spec, split, data_dir, download)
    read = _read_idx_split if spec.kind == "idx" else _read_cifar_split
    images, labels = read(spec, folder, split)
    if limit is not None:
        images, labels = images[:limit].copy(), labels[:limit].copy()  # free the rest
    x = torch.from_numpy(np.ascontiguousarray(images))
    x = convert_images(x, image_size, color)
    y = torch.from_numpy(labels.astype(np.int64))
    return ImageDataset(name, split, x, y, list(spec.classes), folder)


def _find_or_fetch(spec: DatasetSpec, split: str, data_dir: str | os.PathLike | None, download: bool) -> Path:
    """The folder holding ``split`` of ``spec`` (found, else downloaded); DatasetNotFoundError otherwise."""
    if data_dir is not None and not Path(data_dir).expanduser().is_dir():
        raise ValueError(f"--data-dir {data_dir} is not a directory")
    folder, tried, partial = _locate(spec, split, data_dir)
    foreign = data_dir is not None and any(why.startswith("holds ") for _, why in tried)
    if folder is None and download and not foreign:  # never download over another dataset's files
        try:
            folder = fetch(spec.name, data_dir=data_dir, splits=(split,))
        except DownloadError as exc:
            tried += list(dict.fromkeys(exc.attempts))  # each URL and outcome once
        except OSError as exc:  # e.g. the download folder is read-only
            tried.append((f"download into {download_dir(spec.name, data_dir)}", str(exc)))
    if folder is None:
        raise _not_found(spec, split, data_dir, tried, partial)
    return folder

"""Datasets: a strict IDX reader, a verified registry (MNIST family, CIFAR-10), image folders.

See docs/data.md for getting each dataset online and offline.
"""

from convolab.data.checksums import Verification, verify_file
from convolab.data.dataset import ImageDataset, convert_images, split_indices, train_val_split
from convolab.data.download import download_file
from convolab.data.errors import ChecksumError, DatasetNotFoundError, DownloadError
from convolab.data.folder import load_folder
from convolab.data.idx import decode_idx, read_idx, read_idx_bytes
from convolab.data.loading import fetch, load_dataset
from convolab.data.locations import candidate_dirs, download_dir, resolve, user_cache_root
from convolab.data.registry import DATASETS, DatasetSpec, FileSpec, get_spec
from convolab.data.status import DatasetStatus, all_status, dataset_status

__all__ = [
    "DATASETS",
    "ChecksumError",
    "DatasetNotFoundError",
    "DatasetSpec",
    "DatasetStatus",
    "DownloadError",
    "FileSpec",
    "ImageDataset",
    "Verification",
    "all_status",
    "candidate_dirs",
    "convert_images",
    "dataset_status",
    "decode_idx",
    "download_dir",
    "download_file",
    "fetch",
    "get_spec",
    "load_dataset",
    "load_folder",
    "read_idx",
    "read_idx_bytes",
    "resolve",
    "split_indices",
    "train_val_split",
    "user_cache_root",
    "verify_file",
]

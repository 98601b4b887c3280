"""Streaming a folder dataset: same images as the in-memory loader, disjoint rank shares, exact skip."""

from __future__ import annotations

import pytest
import torch

from convolab.data.folder import load_folder
from convolab.train.streaming import ImageFolderStream, ResumableSampler, make_loader
from train_support import write_dataset

N_TRAIN = 24


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("stream")
    write_dataset(root, n_train=N_TRAIN, n_test=4)
    return root


def test_stream_yields_the_in_memory_images(folder):
    ds = ImageFolderStream(folder)
    ref = load_folder(folder).images  # (N, 1, 8, 8) uint8
    assert len(ds) == N_TRAIN
    assert torch.equal(torch.stack([ds[i] for i in range(len(ds))]), ref)


def test_resize_and_colour_follow_load_folder(folder):
    ds = ImageFolderStream(folder, "test", image_size=(6, 5), color="rgb")
    ref = load_folder(folder, "test", image_size=(6, 5), color="rgb").images
    assert ds[0].shape == (3, 6, 5)
    assert torch.equal(torch.stack([ds[i] for i in range(len(ds))]), ref)


def test_ranks_share_the_epoch_without_overlap(folder):
    ds = ImageFolderStream(folder)
    shares = []
    for rank in range(2):
        s = ResumableSampler(ds, world_size=2, rank=rank, seed=3)
        s.set_position(epoch=1)
        shares.append(list(s))
    assert len(shares[0]) == len(shares[1]) == N_TRAIN // 2
    assert sorted(shares[0] + shares[1]) == list(range(N_TRAIN))
    other = ResumableSampler(ds, world_size=2, rank=0, seed=3)
    other.set_position(epoch=2)
    assert list(other) != shares[0]  # a new permutation each epoch


def test_loader_with_workers_and_skip_resumes_exactly(folder):
    ds = ImageFolderStream(folder)
    kw = {"batch_size": 4, "rank": 1, "world_size": 2, "seed": 0, "epoch": 0}
    full = list(make_loader(ds, workers=0, **kw))
    assert len(full) == 3 and full[0].dtype == torch.uint8 and full[0].shape == (4, 1, 8, 8)
    resumed = list(make_loader(ds, workers=2, skip_batches=1, **kw))
    assert len(resumed) == 2
    assert all(torch.equal(a, b) for a, b in zip(resumed, full[1:], strict=True))


def test_bad_arguments(folder, tmp_path):
    with pytest.raises(ValueError, match="is not a directory"):
        ImageFolderStream(tmp_path / "missing")
    ds = ImageFolderStream(folder)
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        make_loader(ds, batch_size=0, rank=0, world_size=1, seed=0, epoch=0)
    with pytest.raises(ValueError, match="skip must be"):
        ResumableSampler(ds, world_size=1, rank=0, seed=0).set_position(0, N_TRAIN + 1)

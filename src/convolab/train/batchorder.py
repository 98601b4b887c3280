"""The order and noise of batches: one seeded permutation per epoch, cut into global batches and shares.

Both data paths of ``convolab.train`` use these functions, so they see the same images in the same
batches: the in-memory path indexes its tensor with :func:`epoch_permutation`, the streaming path reads
the images :func:`rank_order` lists for its rank (``convolab.streaming.ResumableSampler``).

- Epoch ``e``'s order is ``epoch_permutation(n, seed, e)``: it depends only on (seed, e), never on the
  global RNG, so a resumed run replays it exactly.
- Global batch ``s`` is ``perm[s*B:(s+1)*B]`` (``B`` = ``--batch-size``; the last one may be short).
- Under torchrun rank ``r`` of ``w`` trains on ``torch.tensor_split(batch, w)[r]``: a contiguous share
  of ``B / w`` images (the last batch's shares differ by at most one image, and may be empty).
"""

from __future__ import annotations

import hashlib

import torch


def derive_seed(seed: int, *parts: object) -> int:
    """A 63-bit seed for one purpose, e.g. ``derive_seed(0, "perm", epoch)``: independent streams."""
    digest = hashlib.sha256(":".join(str(p) for p in (seed, *parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def epoch_permutation(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The batch order of ``epoch``: a permutation of ``range(n)`` that depends only on (seed, epoch)."""
    gen = torch.Generator().manual_seed(derive_seed(seed, "perm", epoch))
    return torch.randperm(n, generator=gen)


def global_batch_size(n: int, batch_size: int, step: int) -> int:
    """Images in global batch ``step`` of an epoch of ``n`` images (``batch_size`` but the last)."""
    return max(0, min(batch_size, n - step * batch_size))


def rank_order(
    n: int, seed: int, epoch: int, per_rank_batch: int, world_size: int, rank: int
) -> torch.Tensor:
    """The images rank ``rank`` trains on in ``epoch``, in order: its share of every global batch.

    Cut into chunks of ``per_rank_batch``, chunk ``s`` is rank ``rank``'s share of global batch ``s``
    (the last chunk may be shorter or missing). ``per_rank_batch=1`` gives ``DistributedSampler``'s
    interleaving (``perm[rank::world_size]``) without its padding.

    Example:
        >>> rank_order(10, 0, 0, 2, 2, 1).shape  # global batches of 4: shares of 2, 2 and then 1
        torch.Size([5])
    """
    perm = epoch_permutation(n, seed, epoch)
    gb = per_rank_batch * world_size
    full = (n // gb) * gb
    head = perm[:full].view(-1, world_size, per_rank_batch)[:, rank].reshape(-1)  # (steps * b,)
    tail = torch.tensor_split(perm[full:], world_size)[rank]
    return torch.cat([head, tail])


def add_noise(x: torch.Tensor, std: float, seed: int) -> torch.Tensor:
    """Gaussian noise of ``std`` from a generator seeded by ``seed``, added and clipped to [0, 1]."""
    gen = torch.Generator(device=x.device).manual_seed(seed)
    noise = torch.randn(x.shape, generator=gen, device=x.device, dtype=x.dtype)
    return (x + std * noise).clamp_(0.0, 1.0)

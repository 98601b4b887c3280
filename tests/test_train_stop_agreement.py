"""Under torchrun every rank stops on a signal at the same step, whenever the signal reaches each rank.

torchrun passes SIGTERM to each rank on its own, so one rank may see it a moment before its peer:
during a step, between two log steps or in the middle of a checkpoint. A rank that stopped on a signal
its peer had not seen yet left that peer waiting in a collective with a process that had gone (a CI
run hung for 30 s, until torchrun killed both ranks and no checkpoint message was printed). Here rank 0
of two is driven in one process: its agreement is DistContext's own, its peer a rank that saw nothing.
"""

from __future__ import annotations

import os
import signal

import pytest

from convolab import train as tr
from convolab.train.checkpoint import load_checkpoint
from convolab.train.context import LocalContext
from convolab.train.distributed import DistContext
from convolab.train.runfolder import read_log
from train_support import tiny_config


class _PeerSawNothing(LocalContext):
    """Rank 0 of two whose peer has seen no signal: DistContext's agreement, the reduce a max with
    the peer's values (``peer_signal``; no timed save due)."""

    peer_signal = 0.0
    agree_save = DistContext.agree_save

    def reduce_floats(self, values: list[float], op: str = "sum") -> list[float]:
        if op != "max":
            raise AssertionError(f"the agreement reduces with max, not {op}")
        return [max(v, peer) for v, peer in zip(values, [self.peer_signal, 0.0], strict=True)]


class _PeerSawSigterm(_PeerSawNothing):
    """A rank whose peer has seen SIGTERM (and this rank nothing)."""

    peer_signal = float(signal.SIGTERM)


def _signal_in(trainer, method: str, k: int) -> None:
    """SIGTERM to this process during the ``k``-th call of ``trainer.<method>`` (a real signal)."""
    inner, calls = getattr(trainer, method), [0]

    def wrapped(*args, **kw):
        calls[0] += 1
        if calls[0] == k:
            os.kill(os.getpid(), signal.SIGTERM)
        return inner(*args, **kw)

    setattr(trainer, method, wrapped)


@pytest.mark.parametrize(
    "checkpoint_every, method, k, stops_at",
    [
        (4, "save", 1, 6),  # during the save at step 4, after the ranks agreed: the next log step
        (3, "step_fn", 3, 4),  # before the save at step 3, which is no log step: at step 4
        (4, "step_fn", 2, 2),  # before the agreement at log step 2: there and then
    ],
)
def test_a_signal_stops_the_ranks_only_where_they_agree(tmp_path, checkpoint_every, method, k, stops_at):
    cfg = tiny_config(tmp_path, epochs=3, checkpoint_every=checkpoint_every, log_every=2)
    trainer = tr.start(cfg, quiet=True)
    trainer.ctx = _PeerSawNothing()
    _signal_in(trainer, method, k)
    with pytest.raises(tr.TrainingInterrupted) as info:
        trainer.fit()
    assert info.value.exit_code == 143
    state = load_checkpoint(trainer.run_dir / "last").state
    assert state["global_step"] == stops_at
    stop = read_log(trainer.run_dir / "log.jsonl")[-1]
    assert (stop["kind"], stop["signal"], stop["step"]) == ("interrupt", signal.SIGTERM, stops_at)


def test_a_signal_during_the_final_evaluation_stops_every_rank(tmp_path):
    """Rank 0 evaluates the best checkpoint alone; a signal it saw meanwhile stops rank 1 as well
    (rank 1 used to return and wait at the closing barrier for a rank 0 that had gone)."""
    trainer = tr.start(tiny_config(tmp_path, epochs=1), quiet=True)
    trainer.ctx = _PeerSawNothing(rank=1)  # this rank is 1
    finish = trainer.finish

    def evaluated_under_a_signal():
        trainer.ctx = _PeerSawSigterm(rank=1)  # rank 0 saw SIGTERM while it evaluated
        return finish()

    trainer.finish = evaluated_under_a_signal
    with pytest.raises(tr.TrainingInterrupted) as info:
        trainer.fit()
    assert info.value.exit_code == 143
    assert not (trainer.run_dir / "summary.json").exists()

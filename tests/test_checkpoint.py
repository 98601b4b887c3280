"""Checkpoints: round trip, atomic writes, and clear errors for anything that is not a good checkpoint."""

from __future__ import annotations

import json
import pickle

import pytest
import torch

from convolab.model.sequential import Sequential
from convolab.train import checkpoint as ck
from train_support import TINY_SPEC


def _state(**kw):
    base = {"spec": TINY_SPEC, "config": {}, "epoch": 1, "step": 3, "global_step": 12}
    base.update(kw)
    return base


def _model(seed=0):
    torch.manual_seed(seed)
    return Sequential.from_spec(TINY_SPEC)


def _save(path, model, **kw):
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model(torch.rand(2, 1, 8, 8)).sum().backward()
    opt.step()
    return ck.save_checkpoint(
        path, weights=model.state_dict(), state=_state(**kw), optimizer=opt.state_dict()
    )


def test_round_trip_weights_state_optimizer(tmp_path):
    model = _model()
    _save(tmp_path / "last", model, history=[{"epoch": 1}])
    got = ck.load_checkpoint(tmp_path / "last")
    assert sorted(p.name for p in (tmp_path / "last").iterdir()) == [
        "model.safetensors",
        "optimizer.pt",
        "state.json",
    ]
    for k, v in model.state_dict().items():
        assert torch.equal(got.weights[k], v)
    assert got.state["format"] == "convolab-checkpoint" and got.state["step"] == 3
    assert got.state["history"] == [{"epoch": 1}]
    assert got.spec == TINY_SPEC
    shapes = [tuple(p.shape) for p in model.parameters()]
    assert [tuple(s["exp_avg"].shape) for s in got.optimizer["state"].values()] == shapes
    assert not list(tmp_path.glob(".*")), "no temporary or old folder is left behind"


def test_second_save_replaces_first(tmp_path):
    _save(tmp_path / "last", _model(0), step=1)
    _save(tmp_path / "last", _model(1), step=2)
    assert ck.load_checkpoint(tmp_path / "last").state["step"] == 2
    assert not list(tmp_path.glob(".*"))


@pytest.mark.parametrize("victim", ["safetensors", "torch_save", "json"])
def test_failed_write_keeps_previous_checkpoint(tmp_path, monkeypatch, victim):
    first = _model(0)
    _save(tmp_path / "last", first, step=1)

    def boom(*a, **k):
        raise OSError("disk full (simulated)")

    if victim == "safetensors":
        monkeypatch.setattr(ck, "save_file", boom)
    elif victim == "torch_save":
        monkeypatch.setattr(ck.torch, "save", boom)
    else:
        monkeypatch.setattr(ck.json, "dumps", boom)
    with pytest.raises(OSError, match="simulated"):
        _save(tmp_path / "last", _model(1), step=2)
    monkeypatch.undo()
    got = ck.load_checkpoint(ck.resolve_checkpoint(tmp_path, "last"))
    assert got.state["step"] == 1
    for k, v in first.state_dict().items():
        assert torch.equal(got.weights[k], v)
    assert not list(tmp_path.glob(".last.tmp*"))


def test_killed_save_leftovers_are_ignored_then_cleaned(tmp_path):
    _save(tmp_path / "last", _model(0), step=1)
    half = tmp_path / ".last.tmp-99999"  # a save killed half-way by another process
    half.mkdir()
    (half / "model.safetensors").write_bytes(b"garbage")
    assert ck.load_checkpoint(ck.resolve_checkpoint(tmp_path, "last")).state["step"] == 1
    _save(tmp_path / "last", _model(1), step=2)
    assert not half.exists()


def test_crash_between_renames_falls_back_to_old(tmp_path):
    _save(tmp_path / "last", _model(0), step=1)
    (tmp_path / "last").rename(tmp_path / ".last.old")  # the state after the first rename of a save
    assert ck.resolve_checkpoint(tmp_path, "last") == tmp_path / ".last.old"
    _save(tmp_path / "last", _model(1), step=2)  # the next save completes and cleans up
    assert ck.resolve_checkpoint(tmp_path, "last") == tmp_path / "last"
    assert not (tmp_path / ".last.old").exists()


def test_truncated_safetensors_is_a_clear_error(tmp_path):
    _save(tmp_path / "c", _model())
    w = tmp_path / "c" / "model.safetensors"
    w.write_bytes(w.read_bytes()[: w.stat().st_size // 2])
    with pytest.raises(ValueError, match="truncated"):
        ck.load_checkpoint(tmp_path / "c")


@pytest.mark.parametrize(
    "state_text, match",
    [
        ("not json {", "not JSON"),
        (json.dumps({"hello": 1}), "format marker"),
        (json.dumps([1, 2]), "format marker"),
    ],
)
def test_not_a_checkpoint(tmp_path, state_text, match):
    (tmp_path / "state.json").write_text(state_text)
    with pytest.raises(ValueError, match=match):
        ck.load_checkpoint(tmp_path)


def test_missing_pieces(tmp_path):
    with pytest.raises(ValueError, match="no state.json"):
        ck.load_checkpoint(tmp_path)
    with pytest.raises(ValueError, match="no checkpoint"):
        ck.resolve_checkpoint(tmp_path)
    f = tmp_path / "file.bin"
    f.write_bytes(b"\x00" * 10)
    with pytest.raises(ValueError, match="not a convolab checkpoint"):
        ck.resolve_checkpoint(f)
    with pytest.raises(ValueError, match="no such"):
        ck.resolve_checkpoint(tmp_path / "nope")


class Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_pickled_optimizer_file_is_refused_not_executed(tmp_path, capsys):
    _save(tmp_path / "c", _model())
    with open(tmp_path / "c" / "optimizer.pt", "wb") as fh:
        pickle.dump({"state": Evil()}, fh)
    with pytest.raises(ValueError, match="unsafe"):
        ck.load_checkpoint(tmp_path / "c")
    assert "pwned" not in capsys.readouterr().out


def test_check_weights_names_the_mismatch(tmp_path):
    _save(tmp_path / "c", _model())
    got = ck.load_checkpoint(tmp_path / "c")
    other = dict(TINY_SPEC, layers=[dict(TINY_SPEC["layers"][0], filters=5)] + TINY_SPEC["layers"][1:])
    with pytest.raises(ValueError, match="shape mismatch"):
        ck.check_weights(Sequential.from_spec(other), got.weights, "c")
    bigger = dict(TINY_SPEC, layers=TINY_SPEC["layers"] + [dict(TINY_SPEC["layers"][3], name="extra")])
    with pytest.raises(ValueError, match="missing"):
        ck.check_weights(Sequential.from_spec(bigger), got.weights, "c")


def test_rng_state_round_trip():
    saved = ck.rng_state()
    json.dumps(saved)  # JSON-able
    a = torch.rand(5)
    ck.restore_rng(saved)
    assert torch.equal(torch.rand(5), a)


def _saved(tmp_path, **state):
    from convolab.train.checkpoint import rng_state

    base = {"spec": {}, "config": {}, "epoch": 1, "step": 0, "global_step": 9, "rng": rng_state()}
    path = ck.save_checkpoint(tmp_path / "last", weights={"w": torch.zeros(2)}, state={**base, **state})
    return path


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        ({"epoch": -5}, "epoch = -5: must be an integer in [0,"),
        ({"step": 1e30}, "step = 1e+30: must be an integer"),
        ({"global_step": "9"}, "global_step = '9': must be an integer"),
        ({"step": 10}, "global_step = 9: must be >= step (10)"),
        ({"format_version": "9"}, "format_version = '9': must be an integer"),
        ({"rng": {"torch": "AAAA"}}, "rng.torch: decodes to 3 bytes"),
        ({"history": [{"epoch": 1}, 3]}, "history = "),
        ({"epoch_loss": [float("nan"), 2]}, "epoch_loss = [nan, 2]"),
        ({"best": {"value": "x"}}, "best = {'value': 'x'}"),
    ],
)
def test_hand_edited_state_gives_one_message_naming_file_field_and_value(tmp_path, edit, needle):
    path = _saved(tmp_path)
    state = json.loads((path / ck.STATE_FILE).read_text())
    state.update(edit)
    (path / ck.STATE_FILE).write_text(json.dumps(state))
    with pytest.raises(ValueError) as info:
        ck.load_state(path)
    message = str(info.value)
    assert needle in message and str(path / ck.STATE_FILE) in message and "\n" not in message


def test_a_state_without_optional_fields_gets_their_defaults(tmp_path):
    path = _saved(tmp_path)
    state = ck.load_state(path)
    assert state["history"] == [] and state["epoch_loss"] == [0.0, 0] and state["epoch_seconds"] == 0.0

"""The subprocess half of scripts/house_metrics.py: run one CLI command in this process and record how it
gets to its first backward pass.

    python scripts/house_trace.py OUT.json PACKAGE ENTRY_MODULE COMMAND [ARGS...]

It imports ENTRY_MODULE (the package's console-script module, e.g. ``convolab.cli``), finds the click
group in it and the command COMMAND of that group, and wraps the command's ``callback``: from the entry
of the command function (the callback with click's decorators unwrapped) it records, with
``sys.settrace`` on 'call' events of this (the main) thread, every call whose callee is a PACKAGE
module, attributed to the nearest PACKAGE frame up the stack (so calls made through torch's
``Module.__call__`` or click count from the module that made them). Module bodies run by imports, and
every call made while one runs, are not calls of the path (section 2 counts the imports).
``torch.Tensor.backward`` and ``torch.autograd.backward`` are wrapped: the first backward pass snapshots
``sys.modules``, writes OUT.json and ends the process (nothing after the first step is measured).
Nothing here names a module of the package: the layout may change under it.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import sys
import time
from types import CodeType, FrameType
from typing import Any


class Recorder:
    """The 'call' tracer: ``events`` are ``[caller module, callee module, repeats]`` in call order."""

    def __init__(self, package: str, target: CodeType) -> None:
        self.package = package
        self.target = target
        self.started = False
        self.importing = 0  # PACKAGE module bodies running (imports): their calls are not the path
        self.events: list[list[Any]] = []

    def ours(self, name: str) -> bool:
        return name == self.package or name.startswith(self.package + ".")

    def leave_body(self, frame: FrameType, event: str, arg: object) -> Any:
        """The local tracer of a module body: only its 'return' (normal or by an exception) matters."""
        if event == "return":
            self.importing -= 1
        return self.leave_body

    def __call__(self, frame: FrameType, event: str, arg: object) -> Any:
        if event != "call":
            return None
        if not self.started:
            if frame.f_code is not self.target:
                return None
            self.started = True
        callee = frame.f_globals.get("__name__", "")
        if not self.ours(callee):
            return None
        if frame.f_code.co_name == "<module>":  # an import runs a module body: not a call of the path
            self.importing += 1
            frame.f_trace_lines = False
            return self.leave_body
        if self.importing:
            return None
        up = frame.f_back
        while up is not None and not self.ours(up.f_globals.get("__name__", "")):
            up = up.f_back
        if up is None:
            return None
        caller = up.f_globals["__name__"]
        if caller != callee:
            last = self.events[-1] if self.events else None
            if last is not None and last[0] == caller and last[1] == callee:
                last[2] += 1
            else:
                self.events.append([caller, callee, 1])
        return None


def find_command(entry_module: str, name: str) -> Any:
    """The click command ``name`` of the click group defined in ``entry_module``."""
    import click

    module = importlib.import_module(entry_module)
    groups = [v for v in vars(module).values() if isinstance(v, click.Group)]
    for group in groups:
        command = group.get_command(click.Context(group), name)
        if command is not None:
            return command
    raise SystemExit(f"no click group in {entry_module} has a command {name!r}")


def entry_function(entry_module: str) -> Any:
    """``main(argv) -> int`` of the entry module when it has one, else a caller of its click group."""
    import click

    module = importlib.import_module(entry_module)
    main = getattr(module, "main", None)
    if callable(main) and not isinstance(main, click.Command):
        return main
    group = next(v for v in vars(module).values() if isinstance(v, click.Group))
    return lambda argv: group.main(args=argv, standalone_mode=False)


def install(out: str, recorder: Recorder, command: Any, argv: list[str]) -> None:
    """Wrap the command's callback (tracing) and torch's backward (snapshot, write, exit)."""
    import torch

    original = command.callback
    started = time.perf_counter()

    def traced(*args: Any, **kwargs: Any) -> Any:
        sys.settrace(recorder)
        try:
            return original(*args, **kwargs)
        finally:
            sys.settrace(None)

    def first_backward() -> None:
        sys.settrace(None)
        modules = sorted(sys.modules)
        record = {
            "argv": argv,
            "callback": f"{recorder.target.co_filename}:{recorder.target.co_name}",
            "modules": modules,
            "transitions": recorder.events,
            "seconds": round(time.perf_counter() - started, 2),
            "python": sys.version.split()[0],
            "torch": torch.__version__,
        }
        with open(out, "w", encoding="utf-8") as f:
            json.dump(record, f)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)  # the first step is all we measure: no need to finish the run

    tensor_backward, autograd_backward = torch.Tensor.backward, torch.autograd.backward

    def tensor_hook(self: Any, *args: Any, **kwargs: Any) -> Any:
        first_backward()
        return tensor_backward(self, *args, **kwargs)

    def autograd_hook(*args: Any, **kwargs: Any) -> Any:
        first_backward()
        return autograd_backward(*args, **kwargs)

    command.callback = traced
    torch.Tensor.backward = tensor_hook  # type: ignore[method-assign]
    torch.autograd.backward = autograd_hook


def main() -> int:
    out, package, entry_module, *argv = sys.argv[1:]
    command = find_command(entry_module, argv[0])
    target = inspect.unwrap(command.callback).__code__
    install(out, Recorder(package, target), command, argv)
    code = entry_function(entry_module)(argv)
    print(f"house_trace: the command ended (exit {code}) without a backward pass", file=sys.stderr)
    return 3


if __name__ == "__main__":
    sys.exit(main())

"""Options and messages shared by several commands: ``--threads N``, folder paths, the offline hint.

Import light: click only at module level (``convolab CMD --help`` must not import torch).

Usage in a command module::

    from convolab.cli.common import threads_option

    @click.command("evaluate")
    @threads_option
    def evaluate_cmd(...): ...   # no extra parameter: the option sets the threads when the command runs
"""

from __future__ import annotations

from typing import Any

import click


class Folder(click.Path):
    """A folder argument: ``click.Path(file_okay=False)`` that also refuses a pipe, a device or a socket.

    click checks ``file_okay`` against regular files only, so ``--data-dir fifo`` used to pass and then
    hang or list nothing; this type refuses anything that exists and is not a directory.
    """

    def __init__(self, *, exists: bool = False, path_type: Any = None) -> None:
        super().__init__(exists=exists, file_okay=False, dir_okay=True, path_type=path_type)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        import os

        out = super().convert(value, param, ctx)
        path = os.fspath(out)
        if os.path.exists(path) and not os.path.isdir(path):
            self.fail(f"{path!r} is not a folder", param, ctx)
        return out


THREADS_HELP = (
    "CPU threads for the computation [default: OMP_NUM_THREADS if set, else the idle cores now, so a "
    "busy machine is not oversubscribed]."
)


def _apply_threads(ctx: click.Context, param: click.Parameter, value: int | None) -> int | None:
    if ctx.resilient_parsing:  # shell completion: nothing runs
        return value
    from convolab.threads import check_threads, set_threads

    try:
        n = None if value is None else check_threads(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None
    return set_threads(n)


def threads_option(func: Any) -> Any:
    """``--threads N`` for a command that computes: sets torch's (and OpenMP/MKL's) threads before it runs.

    The command function takes no extra parameter. Without the option, ``convolab.threads.default_threads``
    decides (measurements in docs/speed.md, "Threads").
    """
    return click.option(
        "--threads",
        type=int,
        default=None,
        metavar="N",
        expose_value=False,
        callback=_apply_threads,
        help=THREADS_HELP,
    )(func)


def offline_hint(
    exc: Any,
    *,
    dataset_arg: str | None = "--dataset {name}",
    split_flag: str | None = None,
    data_dir: Any = None,
) -> str:
    """One line for a ``DatasetNotFoundError``, true for the command that prints it and the dataset's format.

    Args:
        exc: the error (``name``, ``split``).
        dataset_arg: how this command names another dataset (``"--dataset {name}"``,
            ``"`convolab data show {name}`"``), or None when it cannot switch datasets.
        split_flag: the option choosing the split (``"--train-split"``, ``"--split"``), or None.
        data_dir: the command's ``--data-dir`` (where the other split may be).
    """
    from convolab.data import resolve
    from convolab.data.registry import DATASETS, get_spec

    name, split = exc.name, exc.split
    spec = get_spec(name)
    choices = []
    if split_flag is not None:
        for other in spec.splits:
            if other != split and resolve(name, data_dir, split=other) is not None:
                choices.append(f"{split_flag} {other} (only {name}'s {other} split is here)")
    if dataset_arg is not None:
        for other in DATASETS:
            if other != name and (folder := resolve(other, split=split)) is not None:
                choices.append(f"{dataset_arg.format(name=other)} (found in {folder})")
    files = ", ".join(f.name for f in spec.split_files(split))
    what = f"{name}'s IDX files {files}" if spec.kind == "idx" else f"{files} or the files extracted from it"
    choices.append(f"--data-dir DIR (a folder with {what})")
    choices.append(f"`convolab data fetch {name}` on a machine with internet, then copy the folder")
    tried = "; tried " + ", ".join(f"{place} ({what})" for place, what in exc.tried) if exc.tried else ""
    return f"{exc.headline()} on this machine (nor downloadable){tried}; offline choices: " + ", or ".join(
        choices
    )

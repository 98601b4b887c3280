"""The CLI shell: exit codes of `convolab.cli.main` for success, usage errors, user errors and Exit(n)."""

import click

from convolab import cli


def test_help_and_version_exit_zero(capsys):
    assert cli.main(["--help"]) == 0
    assert "convolab" in capsys.readouterr().out
    assert cli.main(["--version"]) == 0


def test_unknown_command_is_a_usage_error(capsys):
    assert cli.main(["no-such-command"]) == 2
    assert "No such command" in capsys.readouterr().err


def test_exit_code_of_a_command_is_kept(monkeypatch):
    @click.command("exit-7")
    def exit7() -> None:
        raise click.exceptions.Exit(7)

    monkeypatch.setitem(cli.cli.commands, "exit-7", exit7)
    assert cli.main(["exit-7"]) == 7


def test_value_error_is_one_line_exit_2(monkeypatch, capsys):
    @click.command("boom")
    def boom() -> None:
        raise ValueError("layer 0 ('c', Conv2D): kernel_size must be >= 1, got 0")

    monkeypatch.setitem(cli.cli.commands, "boom", boom)
    assert cli.main(["boom"]) == 2
    err = capsys.readouterr().err
    assert err == "error: layer 0 ('c', Conv2D): kernel_size must be >= 1, got 0\n"


# --- instant commands: nothing heavy imported for --help / --version (issue 16, item 1) -------------------

import ast  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

import convolab  # noqa: E402
from convolab.cli import COMMANDS  # noqa: E402

HEAVY = ("torch", "numpy", "matplotlib", "PIL", "scipy")


def _heavy_after(argv: list[str]) -> list[str]:
    """Run ``convolab.cli.main(argv)`` in a fresh interpreter; the heavy modules it imported."""
    code = (
        "import sys, contextlib, io\n"
        "import convolab.cli as c\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    rc = c.main({argv!r})\n"
        f"print(rc, [m for m in {HEAVY!r} if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    rc, heavy = out.strip().split(" ", 1)
    assert rc == "0", out
    return eval(heavy)  # a list literal printed above


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["data", "--help"]])
def test_help_and_version_import_nothing_heavy(argv):
    assert _heavy_after(argv) == []


@pytest.mark.parametrize(
    "name",
    sorted(COMMANDS),
)
def test_every_command_help_imports_no_torch(name):
    assert "torch" not in _heavy_after([name, "--help"])


def test_listing_help_is_each_commands_own_short_help():
    """The table in convolab.cli gives `convolab --help` its lines: it must say what the command says."""
    for name in COMMANDS:
        cmd = cli.cli.get_command(click.Context(cli.cli), name)
        assert cmd is not None, name
        listed = click.Command(name, help=COMMANDS[name][1]).get_short_help_str(200)
        assert listed == cmd.get_short_help_str(200), name
    assert sorted(cli.cli.list_commands(click.Context(cli.cli))) == sorted(COMMANDS)


def _all_helps():
    """(path, help text) of every command and subcommand."""

    def walk(cmd, path):
        ctx = click.Context(cmd, info_name=path[-1])
        yield " ".join(path), cmd.get_help(ctx)
        if isinstance(cmd, click.Group):
            for sub in cmd.list_commands(ctx):
                yield from walk(cmd.get_command(ctx, sub), [*path, sub])

    return list(walk(cli.cli, ["convolab"]))


def test_no_help_names_a_private_path():
    """Users have none of the team's folders: examples in --help use the docs' folders (~/datasets/...)."""
    from machine_paths import leaks

    helps = _all_helps()
    assert len(helps) > len(COMMANDS)  # data's subcommands are walked too
    bad = [(path, leaks(text, code=True)) for path, text in helps if leaks(text, code=True)]
    assert bad == []


def test_usage_errors_are_one_line(capsys):
    assert cli.main(["summary"]) == 2  # missing argument
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: Missing argument"), err
    assert "(see `convolab summary --help`)" in err
    assert cli.main(["kernels", "--size", "x"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: Invalid value for '--size'"), err
    assert cli.main(["--no-such-option"]) == 2
    err = capsys.readouterr().err
    assert err == "error: No such option '--no-such-option'. (see `convolab --help`)\n"


def test_recursion_error_is_one_line(monkeypatch, capsys):
    @click.command("deep")
    def deep() -> None:
        raise RecursionError("maximum recursion depth exceeded while decoding a JSON array")

    monkeypatch.setitem(cli.cli.commands, "deep", deep)
    assert cli.main(["deep"]) == 2
    assert capsys.readouterr().err == "error: the input is nested too deeply to read (RecursionError)\n"


def test_public_names_resolve_lazily():
    code = "import sys, convolab; print('torch' in sys.modules, convolab.__version__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "0.1.0"]
    # the stub is the one declaration: every name it imports is public, resolves, and is listed once
    stub = ast.parse((Path(convolab.__file__).parent / "__init__.pyi").read_text(encoding="utf-8"))
    declared = [a.name for n in stub.body if isinstance(n, ast.ImportFrom) for a in n.names]
    assert len(declared) == len(set(declared)) == 56
    assert sorted(convolab.__all__) == sorted(declared)
    for name in convolab.__all__:
        assert getattr(convolab, name) is not None, name
        assert name in dir(convolab)
    assert convolab.Conv2D.__module__.startswith("convolab.layers")
    with pytest.raises(AttributeError, match="nope"):
        convolab.nope  # noqa: B018


def test_the_training_packages_public_names_resolve():
    import convolab.train as train

    stub = ast.parse((Path(train.__file__).parent / "__init__.pyi").read_text(encoding="utf-8"))
    declared = [a.name for n in stub.body if isinstance(n, ast.ImportFrom) for a in n.names]
    assert sorted(train.__all__) == sorted(declared)
    for name in train.__all__:
        assert getattr(train, name).__module__.startswith("convolab."), name

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

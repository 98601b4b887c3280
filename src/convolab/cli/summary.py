"""CLI commands: summary (placeholder until the feature lands)."""

import click


def register(cli: click.Group) -> None:
    """Add this module's commands to ``cli``."""

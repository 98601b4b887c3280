"""``python -m convolab`` (also what ``torchrun -m convolab`` runs)."""

from convolab.cli import run

run()

"""``python -m slimdet`` runs the command-line interface."""

from slimdet.cli import main

main()

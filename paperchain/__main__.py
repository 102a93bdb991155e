"""``python -m paperchain`` runs the command line."""

from paperchain.cli import main

main()

"""``python -m aisec.cli``."""

from aisec.cli import main

main()

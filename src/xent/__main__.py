"""``python -m xent`` behaves exactly like the ``xent`` command."""

from xent.cli import main

main()

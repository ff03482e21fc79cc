"""``python -m devproxy``: the same as the ``devproxy`` command."""

from .cli import main

main()

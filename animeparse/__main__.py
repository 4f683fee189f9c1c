"""``python -m animeparse``: the same as the ``animeparse`` command."""

from .cli.main import main

main()

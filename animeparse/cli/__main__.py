"""``python -m animeparse.cli``: the same as the ``animeparse`` command."""

from .main import main

main()

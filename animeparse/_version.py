"""The package version, in a module of its own so that any module can import it without importing the package
(``animeparse/__init__.py`` imports the store, which records the version in every card it writes)."""

__version__ = "0.1.0"

"""The package version (also in pyproject.toml; tests/test_readme.py checks they agree)."""
__version__ = "0.1.0"

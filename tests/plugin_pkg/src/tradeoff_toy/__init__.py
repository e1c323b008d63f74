"""A plug-in package for tradeoff, found through its entry points (see pyproject.toml)."""

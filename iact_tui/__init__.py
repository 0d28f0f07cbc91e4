"""iact-tui: run a deployment checklist in the terminal, keep a trustworthy record."""

__version__ = "0.1.0"

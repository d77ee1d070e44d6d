"""HR-GLDD release format and everything that reads it."""

__version__ = "0.1.0"

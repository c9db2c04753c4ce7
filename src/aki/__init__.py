"""aki: Redis on the wire, SQLite in the file."""

__version__ = "0.1.0"

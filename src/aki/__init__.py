"""aki: Redis on the wire, SQLite in the file.

``aki.open(path)`` opens a database in this process (see ``aki.embedded``);
``aki.ConnectionPool(path)`` plugs it under existing redis-py code.
"""

from typing import Any

__version__ = "0.1.0"

__all__ = ["open", "Database", "ConnectionPool", "__version__"]


def __getattr__(name: str) -> Any:
    # Imported lazily so that `aki server` does not pay for redis-py at start-up.
    if name in ("open", "Database", "ConnectionPool"):
        from aki import embedded

        return getattr(embedded, name)
    raise AttributeError(name)

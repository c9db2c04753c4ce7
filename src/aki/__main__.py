"""``python -m aki`` is the ``aki`` command."""

from aki.cli.main import main

if __name__ == "__main__":
    main()

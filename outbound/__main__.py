"""``python -m outbound``: the command line."""

from outbound.cli import main

if __name__ == "__main__":
    main()

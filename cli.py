"""Checkout shim so `python cli.py …` works without installing kb."""

from kb.cli import main

if __name__ == "__main__":
    main()

"""``python -m reconciler``: the same command line as the ``reconciler`` console script."""

from reconciler.cli import main

if __name__ == "__main__":
    main()

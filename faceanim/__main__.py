import sys

from .cli import main

if __name__ == "__main__":  # the guard lets worker processes (spawn, dask) import this module safely
    sys.exit(main())

"""numba's ``njit`` when numba is installed, else a no-op decorator.

The hot loops (G-code scanner, rasteriser, plate splitting) are written in the subset of
Python numba compiles; without numba (a printer host without wheels, or with
``C3PO_NO_NUMBA=1``) the very same functions run as plain Python, slower but the same
logic.
"""

import os

try:
    if os.environ.get("C3PO_NO_NUMBA"):
        raise ImportError("C3PO_NO_NUMBA is set")
    from numba import njit

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - exercised with C3PO_NO_NUMBA=1
    HAVE_NUMBA = False

    def njit(*args, **kwargs):
        return (lambda f: f) if not args or not callable(args[0]) else args[0]

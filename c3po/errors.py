"""Errors raised at c3po's boundaries.

Every error is a :class:`C3POError`, itself a :class:`ValueError`, whose message says
what went wrong, where (file, line) and what to do. The CLI prints the message on one
line to stderr and exits with status 2.
"""


class C3POError(ValueError):
    """Base class of every error c3po raises on bad input or bad configuration."""


class GcodeError(C3POError):
    """G-code that cannot be read: binary data, absurd values, unsupported format."""


class MeshError(C3POError):
    """A mesh that cannot be loaded, repaired or sliced."""


class SlicerError(C3POError):
    """A slicer backend is missing or failed."""


class DatasetError(C3POError):
    """A dataset directory or preset that cannot be built or read."""


class ModelError(C3POError):
    """A model bundle that is missing, broken or incompatible."""

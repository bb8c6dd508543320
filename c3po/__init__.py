"""c3po: stop 3D printers from printing guns.

Public API (numpy only; importing c3po never imports torch)::

    import c3po
    tp = c3po.parse_gcode("part.gcode")       # Toolpath of numpy arrays
    sp = c3po.StreamParser()                   # printer side: layer by layer
"""

from c3po.errors import C3POError, DatasetError, GcodeError, MeshError, ModelError, SlicerError
from c3po.gcode import StreamParser, parse_gcode
from c3po.toolpath import Toolpath

__version__ = "0.1.0"

__all__ = [
    "C3POError",
    "DatasetError",
    "GcodeError",
    "MeshError",
    "ModelError",
    "SlicerError",
    "StreamParser",
    "Toolpath",
    "parse_gcode",
]

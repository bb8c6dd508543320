"""G-code -> Toolpath: whole files and printer-side streams, one scanner for both.

What the engine understands (Marlin semantics where firmwares differ):

* motion: G0/G1, G2/G3 arcs in the XY plane (I/J centre or R radius; helical Z and E
  spread evenly) linearised so no chord strays more than ``arc_tolerance`` mm; modal
  motion ("X10 Y5" repeats the last G0-G3);
* modes: G90/G91 (which, as in Marlin, also set E), M82/M83, G20/G21, G92 (any axes, or
  all when none are named; XYZ offsets are applied so moves are machine coordinates),
  G28 (homes the named axes or all), T tool changes, firmware retraction G10/G11;
* syntax: ``;`` and ``( )`` comments, N line numbers, ``*`` checksums, lowercase,
  spaces between a letter and its number, CRLF, a UTF-8 BOM, no final newline; a
  number ends where a letter starts (``X1E2`` is X1 E2, as in Marlin); lines that are
  host commands or macros (``PAUSE``, ``SET_FAN_SPEED S=1``) and M arguments are ignored;
* layers: from geometry, never from comments (they are trivially stripped). A layer
  starts at an extruding move whose Z differs from the current layer's by 0.03 mm or
  more; travel keeps the layer it follows, so a layer is complete once the next begins;
* features: a comment line naming a feature (``;TYPE:Support material``,
  ``;TYPE:SKIRT``, ``; FEATURE: Brim``, ``; feature raft``) marks the moves after it as
  scaffolding (``aux``: support, skirt, brim, raft, wipe or prime tower) until one names
  a feature of the object; without such comments every move is the object's.

Bad input raises :class:`GcodeError` naming the file, line and reason: NUL or control
bytes, non-ASCII bytes outside comments, values that are not numbers (``Xnan``),
coordinates beyond 10 m, lines over ``max_line`` bytes, empty files, binary
``.bgcode`` files (not supported: export text G-code instead).
"""

from __future__ import annotations

import io
import os
import queue
import threading
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from c3po import _scan
from c3po._jit import HAVE_NUMBA
from c3po.errors import GcodeError
from c3po.toolpath import MOVE_FIELDS, Toolpath

try:  # ISA-L inflates gzip about three times faster than zlib, behind zlib's interface
    from isal import isal_zlib as _inflate
except ImportError:  # pragma: no cover - platforms without its wheels
    _inflate = zlib

ARC_TOLERANCE = 0.01  # mm, largest gap between an arc and its chords
MAX_LINE = 1 << 20  # bytes; no real G-code line comes near this
CHUNK = 8 << 20  # bytes read at a time from files: memory stays bounded

_REASONS = {
    _scan.E_BINARY: "binary data (NUL, control or non-ASCII byte) where G-code text was expected",
    _scan.E_LONGLINE: f"line longer than {MAX_LINE} bytes; this is not G-code text",
    _scan.E_RANGE: "coordinate beyond 10 m (or E beyond 1e9 mm); the file is corrupt",
    _scan.E_NUMBER: "a word's value is not a number (e.g. 'X.' or 'Xnan')",
    _scan.E_ARC: "arc (G2/G3) without a valid centre: give I/J or R, with R >= half the chord",
    _scan.E_PLANE: "arcs in the XZ/YZ plane (G18/G19) are not supported",
}


class Scanner:
    """Parse state plus growing output arrays; feed it bytes, read a Toolpath.

    This is the one engine behind :func:`parse_gcode` and :class:`StreamParser`:
    the result depends only on the bytes, never on how they were split.
    """

    def __init__(self, name: str = "<gcode>", arc_tolerance: float = ARC_TOLERANCE, max_line: int = MAX_LINE,
                 size_hint: int = 0):
        """``size_hint``: the bytes the whole file is expected to hold (0: unknown); the
        output is then sized from the lines per byte seen so far (:meth:`_capacity`), in
        a step or two, not by doubling."""
        if not arc_tolerance > 0:
            raise GcodeError(f"arc_tolerance must be > 0 mm, got {arc_tolerance}")
        self.name = name
        self.arc_tolerance = float(arc_tolerance)
        self.max_line = int(max_line)
        self.st, self.ist = _scan.new_state()
        self.n = 0
        self._arrays = _alloc(1 << 14)
        self._pending = b""  # an incomplete last line, kept for the next feed
        self._started = False
        self.size_hint = int(size_hint)
        self._fed = 0  # bytes scanned, pending ones included

    def feed(self, data: bytes, final: bool = False) -> None:
        """Scan ``data`` (any split of the file's bytes); ``final`` marks the end."""
        if not self._started:
            data, self._pending = self._pending + data, b""
            if len(data) < 4 and not final:
                self._pending = data  # wait for the magic bytes
                return
            data = self._check_head(data)
        buf = self._pending + data if self._pending else data
        self._fed += len(data)
        arr = np.frombuffer(buf, np.uint8) if HAVE_NUMBA else bytes(buf)
        pos, end = 0, len(buf)
        while True:
            a = self._arrays
            pos, self.n, reason = _scan.scan(
                arr, pos, end, final, self.st, self.ist,
                a["start"], a["end"], a["e"], a["extrude"], a["feed"], a["layer"], a["line"], a["tool"], a["aux"],
                self.n, self.arc_tolerance, self.max_line,
            )
            if reason == _scan.R_FULL:
                self._arrays = _grow(a, self.n, self._capacity(self._fed - end + pos))
            elif reason == _scan.R_ERROR:
                self._raise()
            else:
                break
        self._pending = bytes(buf[pos:]) if pos < end else b""

    def _capacity(self, scanned: int) -> int:
        """Moves to make room for when the output is full, ``scanned`` bytes in: the
        whole file's at the lines per byte so far (at most one move per line, arcs aside)
        when its size is known, so the output is copied about once; else twice as many."""
        cap = len(self._arrays["e"])
        rest = self.size_hint - scanned
        if rest <= 0 or self.lines == 0:
            return 2 * cap
        # at most 16x at a time: an estimate from the first few thousand lines, or a wrong
        # hint, never reserves far more than the moves seen so far
        return min(max(int(self.n + rest * self.lines / scanned * 1.1), cap), 16 * cap) + _scan.MAX_ARC_SEGMENTS + 2

    def _check_head(self, data: bytes) -> bytes:
        self._started = True
        if data[:4] == b"GCDE":
            raise GcodeError(
                f"{self.name}: binary G-code (.bgcode) is not supported; export text G-code "
                "(PrusaSlicer: Printer Settings > General > Supports binary G-code off) or convert it "
                "with `bgcode --ascii` from libbgcode"
            )
        if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
            raise GcodeError(f"{self.name}: line 1: UTF-16 text; save the G-code as UTF-8 or ASCII")
        if data[:3] == b"\xef\xbb\xbf":
            data = data[3:]
        return data

    def _raise(self) -> None:
        code, line, col = (int(self.ist[k]) for k in (_scan.I_ERR, _scan.I_ERRLINE, _scan.I_ERRCOL))
        where = f"{self.name}: line {line}" + (f", column {col}" if code in (_scan.E_BINARY, _scan.E_NUMBER) else "")
        raise GcodeError(f"{where}: {_REASONS[code]}")

    @property
    def lines(self) -> int:
        return int(self.ist[_scan.I_LINE])

    @property
    def layer(self) -> int:
        """Index of the layer being printed now (-1 before the first extrusion)."""
        return int(self.ist[_scan.I_LAYER]) if self.ist[_scan.I_HASLAYER] else -1

    def toolpath(self, i: int = 0, j: int | None = None, copy: bool = True) -> Toolpath:
        """Moves ``[i, j)`` scanned so far, as a Toolpath.

        ``copy=False`` returns views into the scanner's buffers: no cost, but only valid
        until the next ``feed``.
        """
        j = self.n if j is None else j
        arrays = {f: v[i:j].copy() if copy else v[i:j] for f, v in self._arrays.items()}
        return Toolpath(**arrays, layer_z=_layer_z(self._arrays, j), lines=self.lines)

    def finish(self) -> Toolpath:
        """The whole toolpath of a finished scan; views unless they would waste memory."""
        return self.toolpath(copy=self.n < 0.75 * len(self._arrays["e"]))


def _alloc(cap: int) -> dict[str, np.ndarray]:
    return {f: np.zeros((cap, w) if w else cap, dtype=d) for f, (d, w) in MOVE_FIELDS.items()}


def _grow(arrays: dict[str, np.ndarray], n: int, cap: int) -> dict[str, np.ndarray]:
    new = _alloc(cap)
    for f, v in arrays.items():
        new[f][:n] = v[:n]
    return new


def _layer_z(arrays: dict[str, np.ndarray], n: int) -> np.ndarray:
    """(L,) Z of the first extruding move of each layer among moves ``[0, n)``."""
    ext = np.flatnonzero(arrays["extrude"][:n])
    if len(ext) == 0:
        return np.zeros(0, np.float32)
    layer = arrays["layer"][ext]
    first = ext[np.r_[True, layer[1:] != layer[:-1]]]
    return arrays["end"][first, 2].copy()


def _open(source, name: str) -> tuple[BinaryIO, str]:
    """A binary stream over a path, bytes or file object; gzip is detected by magic."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        raw: BinaryIO = io.BytesIO(source)
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        name = str(path) if name == "<gcode>" else name
        if not path.is_file():
            if path.is_dir():
                raise GcodeError(f"{path}: is a folder; give the path of a .gcode or .gcode.gz file in it")
            raise GcodeError(f"{path}: no such file; give the path of a .gcode or .gcode.gz file")
        raw = path.open("rb")
    elif hasattr(source, "read"):
        raw = source
        name = getattr(source, "name", name) if name == "<gcode>" else name
    else:
        raise GcodeError(f"cannot read G-code from a {type(source).__name__}; give a path, bytes or a binary file")
    head = raw.peek(2)[:2] if hasattr(raw, "peek") else None
    if head is None:
        pos = raw.tell()
        head = raw.read(2)
        raw.seek(pos)
    if head == b"\x1f\x8b":
        raw = _Gunzip(raw)
    return raw, str(name)


def _size_hint(source, raw) -> int:
    """The bytes a file on disk will give: its size, or a gzip file's recorded length
    (ISIZE, the last member's length mod 2**32: only a hint). 0 when unknown."""
    if not isinstance(source, (str, os.PathLike)):
        return 0
    try:
        size = os.path.getsize(source)
        if not isinstance(raw, _Gunzip):
            return size
        with open(source, "rb") as f:
            f.seek(max(size - 4, 0))
            isize = int.from_bytes(f.read(4), "little")
    except OSError:
        return 0
    return isize if isize <= 64 * size else 0  # G-code deflates 2-16x; more: a truncated file's bytes


class _Gunzip:
    """A gzip stream (one or more members) read in large pieces: the inflater (ISA-L
    where installed, else zlib) then works without the GIL for a whole piece, unlike
    ``gzip.GzipFile``'s small reads."""

    PIECE = 1 << 20

    def __init__(self, raw: BinaryIO):
        self.raw = raw
        self.z = _inflate.decompressobj(31)
        self.started = False  # the current member has input

    def read(self, n: int) -> bytes:
        while True:
            src = self.z.unconsumed_tail
            if not src:
                if self.z.eof:  # a member ended: what follows is the next member, or nothing
                    src = self.z.unused_data
                    self.z, self.started = _inflate.decompressobj(31), False
                if not src:
                    src = self.raw.read(self.PIECE)
                if not src:
                    if self.started:
                        raise EOFError("compressed file ended before the end-of-stream marker was reached")
                    return b""
            self.started = True
            out = self.z.decompress(src, n)
            if out:
                return out

    def close(self) -> None:
        self.raw.close()


def parse_gcode(
    source: str | os.PathLike | bytes | BinaryIO,
    *,
    name: str = "<gcode>",
    arc_tolerance: float = ARC_TOLERANCE,
) -> Toolpath:
    """Parse a whole G-code file (path, bytes or binary file; gzip is detected).

    Reads in chunks, so memory is the output arrays plus one chunk.
    """
    if isinstance(source, (bytes, bytearray, memoryview)) and bytes(source[:2]) != b"\x1f\x8b":
        sc = Scanner(name, arc_tolerance, size_hint=len(source))
        if len(source) == 0:
            raise GcodeError(f"{name}: the file is empty; give a G-code file with moves")
        sc.feed(bytes(source), final=True)
        return sc.finish()
    raw, name = _open(source, name)
    sc = Scanner(name, arc_tolerance, size_hint=_size_hint(source, raw))
    total = 0
    reader = _ReadAhead(raw, name)
    try:
        for chunk in reader:
            total += len(chunk)
            sc.feed(chunk)
        if total == 0:
            raise GcodeError(f"{name}: the file is empty; give a G-code file with moves")
        sc.feed(b"", final=True)
    finally:
        reader.stop()
        if raw is not source:
            raw.close()
    return sc.finish()


class _ReadAhead:
    """Chunks of a binary file read (and gunzipped) by a thread while the caller scans
    the previous one: zlib and the numba scanner both release the GIL, so a .gz file
    parses in about the time of the slower of the two. At most two chunks wait."""

    def __init__(self, raw: BinaryIO, name: str):
        self.raw, self.name = raw, name
        self.queue: queue.Queue = queue.Queue(maxsize=2)
        self.halt = threading.Event()
        self.thread = threading.Thread(target=self._run, name="c3po-read-ahead", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.halt.is_set():
            try:
                item = self.raw.read(CHUNK)
            except (OSError, EOFError, zlib.error, _inflate.error) as exc:  # gzip.BadGzipFile is an OSError
                item = GcodeError(f"{self.name}: cannot read the file ({exc}); is it a complete .gcode or .gcode.gz?")
            except Exception as exc:  # noqa: BLE001 - handed to the caller's thread, raised there
                item = exc
            while not self.halt.is_set():
                try:
                    self.queue.put(item, timeout=0.1)
                    break
                except queue.Full:
                    continue
            if not isinstance(item, bytes) or not item:
                return

    def __iter__(self):
        while True:
            item = self.queue.get()
            if isinstance(item, BaseException):
                raise item
            if not item:
                return
            yield item

    def stop(self) -> None:
        """End the thread (the caller stopped early, e.g. on a parse error)."""
        self.halt.set()
        self.thread.join()


class StreamParser:
    """Printer-side parser: feed G-code as it is sent, get layers as they complete.

    ``feed`` takes lines or chunks of any size (bytes or str). Bytes are scanned in
    batches of ``batch_bytes`` (a few dozen lines), which keeps the cost per line far
    below a microsecond of Python; a completed layer is therefore reported within one
    batch of the first move of the next layer. ``close()`` ends the file and returns the
    last layer. ``toolpath()`` is everything so far and, after ``close()``, equals
    :func:`parse_gcode` on the same bytes.
    """

    def __init__(self, name: str = "<stream>", *, batch_bytes: int = 4096, arc_tolerance: float = ARC_TOLERANCE):
        self._sc = Scanner(name, arc_tolerance)
        self._buf = bytearray()
        self.batch_bytes = int(batch_bytes)
        self._done = 0  # layers already returned
        self._emitted = 0  # moves already returned
        self._fed = 0  # bytes fed
        self.closed = False

    def feed(self, data: bytes | str) -> list[Toolpath]:
        """Add G-code; return the layers completed by it (usually none)."""
        if self.closed:
            raise GcodeError(f"{self._sc.name}: feed() after close()")
        data = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data
        self._fed += len(data)
        self._buf += data
        if len(self._buf) < self.batch_bytes:
            return []
        return self.flush()

    def flush(self) -> list[Toolpath]:
        """Scan everything fed so far (whole lines) and return completed layers."""
        buf, self._buf = bytes(self._buf), bytearray()
        self._sc.feed(buf)
        return self._completed(self._sc.layer)

    def close(self) -> list[Toolpath]:
        """End of file: scan the rest and return the remaining layers, the last included."""
        if self.closed:
            return []
        buf, self._buf = bytes(self._buf), bytearray()
        self.closed = True
        if self._fed == 0:
            raise GcodeError(f"{self._sc.name}: the stream is empty; no G-code was fed")
        self._sc.feed(buf, final=True)
        return self._completed(self._sc.layer + 1)

    def _completed(self, upto: int) -> list[Toolpath]:
        """Layers ``[self._done, upto)``, each as a Toolpath of its own moves."""
        out = []
        if upto <= self._done:
            return out
        sc = self._sc
        layer = sc._arrays["layer"][: sc.n]
        bounds = np.searchsorted(layer, np.arange(self._done + 1, upto + 1), side="left")
        for j in bounds:
            out.append(sc.toolpath(self._emitted, int(j)))
            self._emitted = int(j)
        self._done = upto
        return out

    @property
    def lines(self) -> int:
        """Source lines scanned so far."""
        return self._sc.lines

    @property
    def layer(self) -> int:
        """Index of the layer being printed now (-1 before the first extrusion)."""
        return self._sc.layer

    def toolpath(self) -> Toolpath:
        """All moves scanned so far (a copy)."""
        return self._sc.toolpath()

    def prefix(self, j: int) -> Toolpath:
        """Moves ``[0, j)`` as views: free, but valid only until the next ``feed``."""
        return self._sc.toolpath(0, j, copy=False)


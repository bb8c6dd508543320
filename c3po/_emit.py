"""G-code text from arrays: the built-in slicer's move lines, formatted by a numba kernel.

Python's float formatting costs about 0.5 us a number, and a sliced object has hundreds
of thousands of moves; here numbers arrive as integers in their last printed digit
(thousandths of a mm for X and Y, 1e-5 mm of filament for E) and are written as ASCII
digits straight into a byte buffer.
"""

from __future__ import annotations

import numpy as np

from c3po._jit import njit


@njit(cache=True, nogil=True)
def _put_fixed(out, pos, value, decimals):
    """Write ``value / 10**decimals`` with exactly ``decimals`` digits after the point."""
    if value < 0:
        out[pos] = 45  # '-'
        pos += 1
        value = -value
    n = 1
    rest = value // 10
    while rest > 0 or n <= decimals:  # digits to write: at least one before the point
        n += 1
        rest //= 10
    end = pos + n + (1 if decimals > 0 else 0)
    k = end - 1
    for d in range(n):
        if d == decimals and decimals > 0:
            out[k] = 46  # '.'
            k -= 1
        out[k] = 48 + value % 10
        value //= 10
        k -= 1
    return end


@njit(cache=True, nogil=True)
def _put_e_line(out, pos, value, feed):
    """``G1 E<value / 1e5> F<feed>`` and a newline (a retraction or its undo)."""
    for c in (71, 49, 32, 69):  # 'G1 E'
        out[pos] = c
        pos += 1
    pos = _put_fixed(out, pos, value, 5)
    out[pos] = 32
    out[pos + 1] = 70  # 'F'
    pos = _put_fixed(out, pos + 2, feed, 0)
    out[pos] = 10
    return pos + 1


@njit(cache=True, nogil=True)
def _put_text(out, pos, text):
    for k in range(text.shape[0]):
        out[pos] = text[k]
        pos += 1
    return pos


@njit(cache=True, nogil=True)
def move_lines(travel, x, y, e, speed, back, fwd, retract_feed, travel_tail, out, starts):
    """Write the lines of every move into ``out``; returns the bytes written.

    travel       : (N,) bool   ``G0 X.. Y..`` + ``travel_tail`` (e.g. `` F9000``), else
                               ``G1 X.. Y.. E..`` and `` F<speed>`` where ``speed > 0``
    x, y         : (N,) int64  thousandths of a mm;  e : (N,) int64  1e-5 mm of filament
    speed        : (N,) int64  feedrate to append, mm/min (0: none)
    back, fwd    : (N,) int64  E (1e-5 mm) of a retraction, then of its undo, written
                               before the move at ``retract_feed``; INT64_MIN: none
    travel_tail  : (T,) uint8  ASCII text ending a travel line
    out          : (N * (128 + T),) uint8 buffer
    starts       : (N + 1,) int64, filled: the text of move i (its retraction lines
                   first) is ``out[starts[i]:starts[i + 1]]``, newline included
    """
    none = np.iinfo(np.int64).min
    pos = 0
    for i in range(travel.shape[0]):
        starts[i] = pos
        if back[i] != none:
            pos = _put_e_line(out, pos, back[i], retract_feed)
        if fwd[i] != none:
            pos = _put_e_line(out, pos, fwd[i], retract_feed)
        out[pos] = 71  # 'G'
        out[pos + 1] = 48 if travel[i] else 49
        out[pos + 2] = 32
        out[pos + 3] = 88  # 'X'
        pos = _put_fixed(out, pos + 4, x[i], 3)
        out[pos] = 32
        out[pos + 1] = 89  # 'Y'
        pos = _put_fixed(out, pos + 2, y[i], 3)
        if travel[i]:
            pos = _put_text(out, pos, travel_tail)
        else:
            out[pos] = 32
            out[pos + 1] = 69  # 'E'
            pos = _put_fixed(out, pos + 2, e[i], 5)
            if speed[i] > 0:
                out[pos] = 32
                out[pos + 1] = 70  # 'F'
                pos = _put_fixed(out, pos + 2, speed[i], 0)
        out[pos] = 10
        pos += 1
    starts[travel.shape[0]] = pos
    return pos


def format_moves(travel: np.ndarray, xy: np.ndarray, e: np.ndarray, speed: np.ndarray, back: np.ndarray,
                 fwd: np.ndarray, retract_feed: int, travel_tail: str) -> tuple[bytes, np.ndarray]:
    """(text, starts): the lines of :func:`move_lines` as bytes and the offset of each
    move's text. ``xy`` (N, 2) mm are printed with 3 decimals; ``e``, ``back`` and
    ``fwd`` (N,) mm with 5 (``back``, ``fwd`` NaN: no such line)."""
    n = len(travel)
    tail = np.frombuffer(travel_tail.encode(), np.uint8)
    none = np.iinfo(np.int64).min
    xm = np.rint(np.round(xy, 3) * 1000).astype(np.int64)
    e_units, back_units, fwd_units = (np.where(np.isnan(v), none, np.rint(np.nan_to_num(v) * 1e5)).astype(np.int64)
                                      for v in (e, back, fwd))
    out = np.empty(n * (128 + len(tail)) + 1, np.uint8)
    starts = np.empty(n + 1, np.int64)
    end = move_lines(travel, xm[:, 0].copy(), xm[:, 1].copy(), e_units, speed.astype(np.int64), back_units, fwd_units,
                     int(retract_feed), tail, out, starts)
    return out[:end].tobytes(), starts

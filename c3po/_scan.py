"""The G-code byte scanner: one pass over bytes, firmware modal state, moves out.

This is the hot loop of c3po. It is written in the subset of Python that numba
compiles; without numba the very same function runs as plain Python (slow, but the
same logic), which is what the printer side falls back to.

``scan`` consumes whole lines from ``buf[pos:end]`` and appends moves to the output
arrays. It stops early (at a line start) when the output is nearly full, when the
last line is incomplete and ``final`` is false, or on an error, and returns the
position reached; the caller grows the arrays or brings more bytes and calls again.
All state lives in two small arrays so a parse can resume on the next chunk.
"""

from __future__ import annotations

import math

import numpy as np

from c3po._jit import njit


# float state st[...]
S_X, S_Y, S_Z, S_E = 0, 1, 2, 3  # logical position (what the file's coordinates mean)
S_OX, S_OY, S_OZ = 4, 5, 6  # G92 offset: machine = logical + offset
S_F = 7  # feedrate, mm/min
S_LZ = 8  # Z of the current layer
S_LH = 9  # the last step between flat layers (mm; 0 before the second layer)
N_FSTATE = 10

# int state ist[...]
I_RELXYZ, I_RELE, I_INCH, I_MOTION, I_TOOL = 0, 1, 2, 3, 4
I_LAYER, I_HASLAYER, I_LINE, I_RETRACTED = 5, 6, 7, 8
I_ERR, I_ERRLINE, I_ERRCOL, I_FIRMRETRACTS = 9, 10, 11, 12
I_AUX = 13  # 1 while the slicer's feature comments say support, skirt, brim, raft or a tower
I_SPIRAL = 14  # 1 while extruding moves climb a spiral (the last one rose, or followed one that did)
N_ISTATE = 15

# letters, as indices A=0 .. Z=25
L_E, L_F, L_I, L_J, L_L, L_P, L_R, L_X, L_Y, L_Z = 4, 5, 8, 9, 11, 15, 17, 23, 24, 25

# error codes (messages in gcode.py)
E_NONE, E_BINARY, E_LONGLINE, E_RANGE, E_NUMBER, E_ARC, E_PLANE = 0, 1, 2, 3, 4, 5, 6

# stop reasons
R_DONE, R_FULL, R_ERROR = 0, 1, 2

_POW10 = np.array([10.0**k for k in range(19)])  # exact divisors for up to 18 decimals
MAX_ARC_SEGMENTS = 4096  # with |coords| <= LIMIT_MM and the default tolerance, never reached
LIMIT_MM = 10_000.0  # a coordinate beyond 10 m is not a desktop print
LIMIT_E = 1.0e9  # filament, mm
MIN_LAYER_DZ = 0.03  # thinner than any FDM layer: a smaller Z step is not a new layer
SPIRAL_LAYER = 0.2  # mm: one turn of a spiral that rises from the first layer (no flat layer to measure)


# feature comments: ";TYPE:Support material" (PrusaSlicer), ";TYPE:SKIRT" (Cura), "; FEATURE: Brim"
# (Bambu Studio, OrcaSlicer), "; feature raft" (Simplify3D); the feature names that are not
# the object start with one of AUX_FEATURES (PrusaSlicer's rafts are support material,
# "Wipe tower" and Cura's "PRIME-TOWER" purge between tools)
_TYPE = np.frombuffer(b"TYPE:", np.uint8)
_FEATURE = np.frombuffer(b"FEATURE", np.uint8)
AUX_FEATURES = (b"SUPPORT", b"SKIRT", b"BRIM", b"RAFT", b"WIPE", b"PRIME")
_SUPPORT, _SKIRT, _BRIM, _RAFT, _WIPE, _PRIME = (np.frombuffer(w, np.uint8) for w in AUX_FEATURES)


def new_state() -> tuple[np.ndarray, np.ndarray]:
    """Fresh firmware state: absolute XYZ and E, millimetres, G1, tool 0, at origin."""
    st = np.zeros(N_FSTATE, np.float64)
    ist = np.zeros(N_ISTATE, np.int64)
    ist[I_MOTION] = 1
    return st, ist


@njit(cache=True, nogil=True)
def _has(mask, letter):
    return ((mask >> letter) & 1) != 0


@njit(cache=True, nogil=True)
def _is_nonfinite(a, b, c):
    """Bytes spell nan or inf in any case."""
    a, b, c = a | 32, b | 32, c | 32
    return (a == 110 and b == 97 and c == 110) or (a == 105 and b == 110 and c == 102)


@njit(cache=True, nogil=True)
def _starts(buf, i, end, word):
    """``buf[i:]`` starts with the upper-case ASCII ``word``, in any case."""
    if i + len(word) > end:
        return False
    for k in range(len(word)):
        c = buf[i + k]
        if c >= 97 and c <= 122:
            c -= 32
        if c != word[k]:
            return False
    return True


@njit(cache=True, nogil=True)
def _feature(buf, i, end):
    """A comment's text from ``buf[i]`` (after the ';'): 1 if it names a feature that is
    not the object (support, skirt, brim, raft, wipe or prime tower), 0 another feature,
    -1 no feature at all."""
    while i < end and buf[i] == 32:
        i += 1
    if _starts(buf, i, end, _TYPE):
        i += len(_TYPE)
    elif _starts(buf, i, end, _FEATURE) and i + len(_FEATURE) < end and (buf[i + len(_FEATURE)] == 58
                                                                           or buf[i + len(_FEATURE)] == 32):
        i += len(_FEATURE) + 1  # "; FEATURE: Support", "; feature support"
    else:
        return -1
    while i < end and buf[i] == 32:
        i += 1
    if (_starts(buf, i, end, _SUPPORT) or _starts(buf, i, end, _SKIRT) or _starts(buf, i, end, _BRIM)
            or _starts(buf, i, end, _RAFT) or _starts(buf, i, end, _WIPE) or _starts(buf, i, end, _PRIME)):
        return 1
    return 0


@njit(cache=True, nogil=True)
def _emit(
    o_start, o_end, o_e, o_ext, o_feed, o_layer, o_line, o_tool, o_aux, n,
    sx, sy, sz, ex, ey, ez, de, st, ist,
):
    """Append one segment, assigning its layer from the geometry of extrusion.

    A flat extruding move more than MIN_LAYER_DZ off the current layer's Z starts a
    layer. A move that rises while it extrudes (spiral vase mode, a helical arc) climbs
    a spiral, and so does every extruding move after it (slicers write Z to a few
    decimals, so some steps of a spiral look flat): there a layer starts only once the
    spiral has climbed one layer height (the last step between flat layers) above the
    current layer's start, so a layer is one turn, as in a flat print, not one move."""
    moving = sx != ex or sy != ey or sz != ez
    extruding = de > 0.0 and moving
    if extruding:
        dz = ez - st[S_LZ]
        if sz != ez:
            ist[I_SPIRAL] = 1
        if ist[I_HASLAYER] == 0:
            ist[I_HASLAYER] = 1
            st[S_LZ] = ez
        elif ist[I_SPIRAL]:
            step = st[S_LH] if st[S_LH] > 0.0 else SPIRAL_LAYER
            if dz >= 0.999 * step or dz <= -MIN_LAYER_DZ:
                ist[I_LAYER] += 1
                st[S_LZ] = ez
                ist[I_SPIRAL] = sz != ez  # a flat move a whole layer up ends the spiral
        elif abs(dz) >= MIN_LAYER_DZ:
            ist[I_LAYER] += 1
            st[S_LZ] = ez
            if dz > 0.0:
                st[S_LH] = dz
    o_start[n, 0] = sx
    o_start[n, 1] = sy
    o_start[n, 2] = sz
    o_end[n, 0] = ex
    o_end[n, 1] = ey
    o_end[n, 2] = ez
    o_e[n] = de
    o_ext[n] = extruding
    o_feed[n] = st[S_F]
    o_layer[n] = ist[I_LAYER]
    o_line[n] = ist[I_LINE]
    o_tool[n] = ist[I_TOOL]
    o_aux[n] = ist[I_AUX] != 0
    return n + 1


@njit(cache=True, nogil=True)
def scan(
    buf, pos, end, final, st, ist,
    o_start, o_end, o_e, o_ext, o_feed, o_layer, o_line, o_tool, o_aux, n, arc_tol, max_line,
):
    """Scan lines of ``buf[pos:end]``; return (pos, n, reason)."""
    cap = len(o_e)
    val = np.zeros(32, np.float64)
    gcodes = np.zeros(8, np.float64)
    while pos < end:
        if n + MAX_ARC_SEGMENTS + 1 > cap:
            return pos, n, R_FULL
        line_start = pos
        mask = 0  # bit k set: letter k was seen on this line
        ng = 0
        mcode = -1.0
        tcode = -1.0
        cmd_seen = 0  # 0 none yet, 1 G line, 2 M or T line (rest ignored)
        in_paren = False
        skip_rest = False  # comment or ignored remainder: only look for NUL and newline
        feature = -1  # a comment line naming a feature: 1 not the object, 0 the object
        err = E_NONE
        err_col = 0
        i = pos
        complete = False
        while i < end:
            c = buf[i]
            if c == 10:  # \n
                complete = True
                break
            if c == 0:
                err = E_BINARY
                err_col = i - line_start
                break
            if skip_rest:
                i += 1
                continue
            if in_paren:
                if c == 41:  # ')'
                    in_paren = False
                i += 1
                continue
            if c == 32 or c == 9 or c == 13 or c == 11 or c == 12:
                i += 1
                continue
            if c == 59:  # ';'
                if cmd_seen == 0 and mask == 0:  # a comment line, maybe a feature's name
                    feature = _feature(buf, i + 1, end)
                skip_rest = True
                i += 1
                continue
            if c == 40:  # '('
                in_paren = True
                i += 1
                continue
            if c == 42:  # '*' checksum: the rest is not G-code
                skip_rest = True
                i += 1
                continue
            if c < 32 or c > 126:
                err = E_BINARY
                err_col = i - line_start
                break
            if c >= 97 and c <= 122:
                c -= 32
            if c < 65 or c > 90:
                # Not a word: a host command or macro (Klipper "SET_X A=1", "%"), ignore the line
                skip_rest = True
                i += 1
                continue
            letter = c - 65
            i += 1
            # a number may follow after spaces: "G 1 X 10"
            while i < end and (buf[i] == 32 or buf[i] == 9):
                i += 1
            sign = 1.0
            if i < end and (buf[i] == 45 or buf[i] == 43):
                if buf[i] == 45:
                    sign = -1.0
                i += 1
            mant = 0
            ndig = 0
            scale = 0  # power of ten to apply
            seen_dot = False
            while i < end:
                d = buf[i]
                if d >= 48 and d <= 57:
                    if ndig < 18:
                        mant = mant * 10 + (d - 48)
                        ndig += 1
                        if seen_dot:
                            scale -= 1
                    elif not seen_dot:
                        scale += 1  # digits past 18 scale the value; decimals past 18 are dropped
                    i += 1
                elif d == 46 and not seen_dot:
                    seen_dot = True
                    i += 1
                else:
                    break
            if ndig == 0:
                if seen_dot or (i + 2 < end and _is_nonfinite(buf[i], buf[i + 1], buf[i + 2])):
                    err = E_NUMBER  # "X." or "Xnan" / "Xinf": a value that is not a number
                    err_col = i - line_start
                    break
                if cmd_seen == 0 and i < end and buf[i] > 32 and buf[i] != 59:
                    # a line that starts with a word, e.g. a host command "PAUSE": ignore it
                    skip_rest = True
                    continue
                # a letter alone: "G28 X Y" names axes; elsewhere it is ignored
                mask |= 1 << letter
                val[letter] = math.nan
                continue
            v = float(mant)
            if scale < 0:
                v = v / _POW10[-scale]
            elif scale > 0:
                v = v * 10.0 ** scale
            v = sign * v
            if letter == 13:  # N line number
                continue
            if letter == 6:  # G
                if cmd_seen == 2:
                    continue
                cmd_seen = 1
                if ng < 8:
                    gcodes[ng] = v
                    ng += 1
                continue
            if letter == 12:  # M
                if cmd_seen == 0:
                    cmd_seen = 2
                    mcode = v
                    skip_rest = True  # M arguments may be free text (M117, M23 ...)
                continue
            if letter == 19:  # T
                if cmd_seen == 0:
                    cmd_seen = 2
                    tcode = v
                    skip_rest = True
                continue
            mask |= 1 << letter
            val[letter] = v
        if err != E_NONE and not final:
            # an error in a line whose end has not arrived yet may be a number cut in two
            while i < end and buf[i] != 10:
                i += 1
            if i == end:
                err = E_NONE
                complete = False
        if err != E_NONE:
            ist[I_ERR] = err
            ist[I_ERRLINE] = ist[I_LINE] + 1
            ist[I_ERRCOL] = err_col + 1
            return line_start, n, R_ERROR
        if not complete and not final:
            if end - line_start > max_line:
                ist[I_ERR] = E_LONGLINE
                ist[I_ERRLINE] = ist[I_LINE] + 1
                ist[I_ERRCOL] = end - line_start
                return line_start, n, R_ERROR
            return line_start, n, R_DONE
        if i - line_start > max_line:
            ist[I_ERR] = E_LONGLINE
            ist[I_ERRLINE] = ist[I_LINE] + 1
            ist[I_ERRCOL] = i - line_start
            return line_start, n, R_ERROR
        pos = i + 1 if complete else i
        ist[I_LINE] += 1

        # ---- execute the line -------------------------------------------------
        if feature >= 0:
            ist[I_AUX] = feature
            continue
        if mcode >= 0.0:
            if mcode == 82.0:
                ist[I_RELE] = 0
            elif mcode == 83.0:
                ist[I_RELE] = 1
            continue
        if tcode >= 0.0:
            ist[I_TOOL] = int(tcode)
            continue
        unit = 25.4 if ist[I_INCH] == 1 else 1.0
        any_axis = _has(mask, L_X) or _has(mask, L_Y) or _has(mask, L_Z) or _has(mask, L_E)  # X Y Z E
        if ng == 0:
            if not (any_axis or _has(mask, L_F)):
                continue
            gcodes[0] = float(ist[I_MOTION])  # modal motion: "X10 Y5" repeats G0/G1
            ng = 1
        for gi in range(ng):
            g = gcodes[gi]
            if g == 0.0 or g == 1.0 or g == 2.0 or g == 3.0:
                ist[I_MOTION] = int(g)
                if _has(mask, L_F) and not math.isnan(val[L_F]):
                    st[S_F] = val[L_F] * unit
                # target in logical coordinates
                tx = st[S_X]
                ty = st[S_Y]
                tz = st[S_Z]
                rel = ist[I_RELXYZ] == 1
                if _has(mask, L_X) and not math.isnan(val[L_X]):
                    tx = (tx + val[L_X] * unit) if rel else val[L_X] * unit
                if _has(mask, L_Y) and not math.isnan(val[L_Y]):
                    ty = (ty + val[L_Y] * unit) if rel else val[L_Y] * unit
                if _has(mask, L_Z) and not math.isnan(val[L_Z]):
                    tz = (tz + val[L_Z] * unit) if rel else val[L_Z] * unit
                de = 0.0
                if _has(mask, L_E) and not math.isnan(val[L_E]):
                    ev = val[L_E] * unit
                    if abs(ev) > LIMIT_E:
                        ist[I_ERR] = E_RANGE
                        ist[I_ERRLINE] = ist[I_LINE]
                        ist[I_ERRCOL] = 0
                        return line_start, n, R_ERROR
                    if ist[I_RELE] == 1:
                        de = ev
                        st[S_E] += ev
                    else:
                        de = ev - st[S_E]
                        st[S_E] = ev
                sx = st[S_X] + st[S_OX]
                sy = st[S_Y] + st[S_OY]
                sz = st[S_Z] + st[S_OZ]
                ex = tx + st[S_OX]
                ey = ty + st[S_OY]
                ez = tz + st[S_OZ]
                if not (abs(ex) <= LIMIT_MM and abs(ey) <= LIMIT_MM and abs(ez) <= LIMIT_MM):
                    ist[I_ERR] = E_RANGE
                    ist[I_ERRLINE] = ist[I_LINE]
                    ist[I_ERRCOL] = 0
                    return line_start, n, R_ERROR
                st[S_X] = tx
                st[S_Y] = ty
                st[S_Z] = tz
                if g <= 1.0:
                    if sx != ex or sy != ey or sz != ez or de != 0.0:
                        n = _emit(o_start, o_end, o_e, o_ext, o_feed, o_layer, o_line, o_tool, o_aux, n,
                                  sx, sy, sz, ex, ey, ez, de, st, ist)
                    continue
                # ---- arc G2 (clockwise) / G3 (counter-clockwise) in the XY plane
                if _has(mask, L_I) or _has(mask, L_J):
                    ci = val[L_I] * unit if _has(mask, L_I) and not math.isnan(val[L_I]) else 0.0
                    cj = val[L_J] * unit if _has(mask, L_J) and not math.isnan(val[L_J]) else 0.0
                    cx = sx + ci
                    cy = sy + cj
                    r = math.hypot(ci, cj)
                elif _has(mask, L_R) and not math.isnan(val[L_R]):
                    r = val[L_R] * unit
                    dx = ex - sx
                    dy = ey - sy
                    chord = math.hypot(dx, dy)
                    if chord == 0.0 or abs(r) < 1e-9:
                        ist[I_ERR] = E_ARC
                        ist[I_ERRLINE] = ist[I_LINE]
                        ist[I_ERRCOL] = 18
                        return line_start, n, R_ERROR
                    h2 = r * r - chord * chord / 4.0
                    h = math.sqrt(h2) if h2 > 0.0 else 0.0
                    # centre left of the chord for G3 with R > 0, right for G2; R < 0 flips
                    side = 1.0 if g == 3.0 else -1.0
                    if r < 0.0:
                        side = -side
                    cx = sx + dx / 2.0 - side * h * dy / chord
                    cy = sy + dy / 2.0 + side * h * dx / chord
                    r = abs(r)
                    if h2 < 0.0:
                        r = chord / 2.0
                else:
                    ist[I_ERR] = E_ARC
                    ist[I_ERRLINE] = ist[I_LINE]
                    ist[I_ERRCOL] = 1
                    return line_start, n, R_ERROR
                if not (r > 0.0 and r <= 2.0 * LIMIT_MM):
                    ist[I_ERR] = E_ARC
                    ist[I_ERRLINE] = ist[I_LINE]
                    ist[I_ERRCOL] = 1
                    return line_start, n, R_ERROR
                a0 = math.atan2(sy - cy, sx - cx)
                a1 = math.atan2(ey - cy, ex - cx)
                if g == 3.0:
                    sweep = a1 - a0
                else:
                    sweep = a0 - a1
                while sweep <= 1e-12:
                    sweep += 2.0 * math.pi
                if abs(ex - sx) < 1e-9 and abs(ey - sy) < 1e-9:
                    sweep = 2.0 * math.pi  # same start and end: a full circle
                if arc_tol < r:
                    step = 2.0 * math.acos(1.0 - arc_tol / r)
                else:
                    step = math.pi / 2.0
                nseg = int(math.ceil(sweep / step))
                if nseg < 1:
                    nseg = 1
                if nseg > MAX_ARC_SEGMENTS:
                    nseg = MAX_ARC_SEGMENTS
                direction = 1.0 if g == 3.0 else -1.0
                px = sx
                py = sy
                pz = sz
                for k in range(1, nseg + 1):
                    if k == nseg:
                        qx = ex
                        qy = ey
                        qz = ez
                    else:
                        a = a0 + direction * sweep * k / nseg
                        qx = cx + r * math.cos(a)
                        qy = cy + r * math.sin(a)
                        qz = sz + (ez - sz) * k / nseg
                    n = _emit(o_start, o_end, o_e, o_ext, o_feed, o_layer, o_line, o_tool, o_aux, n,
                              px, py, pz, qx, qy, qz, de / nseg, st, ist)
                    px = qx
                    py = qy
                    pz = qz
            elif g == 92.0:
                named = _has(mask, L_X) or _has(mask, L_Y) or _has(mask, L_Z) or _has(mask, L_E)
                for a, si, oi in ((L_X, S_X, S_OX), (L_Y, S_Y, S_OY), (L_Z, S_Z, S_OZ)):
                    if (_has(mask, a) and not math.isnan(val[a])) or not named:
                        v = val[a] * unit if named else 0.0
                        st[oi] = st[si] + st[oi] - v
                        st[si] = v
                if (_has(mask, L_E) and not math.isnan(val[L_E])) or not named:
                    st[S_E] = val[L_E] * unit if named else 0.0
            elif g == 28.0:
                named = _has(mask, L_X) or _has(mask, L_Y) or _has(mask, L_Z)
                for a, si, oi in ((L_X, S_X, S_OX), (L_Y, S_Y, S_OY), (L_Z, S_Z, S_OZ)):
                    if _has(mask, a) or not named:
                        st[si] = 0.0
                        st[oi] = 0.0
            elif g == 90.0:
                ist[I_RELXYZ] = 0
                ist[I_RELE] = 0
            elif g == 91.0:
                ist[I_RELXYZ] = 1
                ist[I_RELE] = 1
            elif g == 20.0:
                ist[I_INCH] = 1
                unit = 25.4
            elif g == 21.0:
                ist[I_INCH] = 0
                unit = 1.0
            elif g == 10.0:
                if not (_has(mask, L_L) or _has(mask, L_P)):  # G10 L/P sets offsets, not a retraction
                    ist[I_RETRACTED] = 1
                    ist[I_FIRMRETRACTS] += 1
            elif g == 11.0:
                ist[I_RETRACTED] = 0
            elif g == 18.0 or g == 19.0:
                ist[I_ERR] = E_PLANE
                ist[I_ERRLINE] = ist[I_LINE]
                ist[I_ERRCOL] = 1
                return line_start, n, R_ERROR
    return pos, n, R_DONE

"""The G-code engine: modal state, syntax, layers, streaming and bad input."""

import gzip
import io
import math
import re
import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from c3po import GcodeError, StreamParser, parse_gcode
from c3po.gcode import Scanner
from tests.conftest import REAL_FILES, SMALL_REAL_FILES, real_file


def moves(text: str):
    return parse_gcode(text.encode())


def ends(text: str) -> np.ndarray:
    return moves(text).end.astype(np.float64)


# ---- motion and modal state -------------------------------------------------------


def test_g0_g1_absolute_moves_and_feed():
    tp = moves("G90\nG0 X10 Y5 F3000\nG1 X20 E1.5 F1200\nG1 Y15 E3\n")
    np.testing.assert_allclose(tp.end, [[10, 5, 0], [20, 5, 0], [20, 15, 0]])
    np.testing.assert_allclose(tp.start, [[0, 0, 0], [10, 5, 0], [20, 5, 0]])
    np.testing.assert_allclose(tp.e, [0, 1.5, 1.5])
    assert tp.extrude.tolist() == [False, True, True]
    np.testing.assert_allclose(tp.feed, [3000, 1200, 1200])
    assert tp.line.tolist() == [2, 3, 4]


def test_relative_xyz_and_e_modes():
    tp = moves("G91\nG1 X10 E1\nG1 X10 E1\nG90\nM83\nG1 X5 E0.5\nM82\nG1 X6 E3\n")
    np.testing.assert_allclose(tp.end[:, 0], [10, 20, 5, 6])
    np.testing.assert_allclose(tp.e, [1, 1, 0.5, 0.5])  # E counts on across modes


def test_g92_sets_e_and_offsets_xyz():
    tp = moves("G1 X10 E5\nG92 E0\nG1 X20 E1\nG92 X0\nG1 X5 E2\nG92\nG1 X1 Y1 E1\n")
    np.testing.assert_allclose(tp.e, [5, 1, 1, 1])
    # after G92 X0 at machine X20, X5 means machine X25; G92 with no axes zeroes all
    np.testing.assert_allclose(tp.end[:, 0], [10, 20, 25, 26])
    np.testing.assert_allclose(tp.end[-1, 1], 1)


def test_inches_g20_g21():
    tp = moves("G20\nG1 X1 Y2 E0.1 F60\nG21\nG1 X30 E5\n")
    np.testing.assert_allclose(tp.end[0], [25.4, 50.8, 0], rtol=1e-6)
    np.testing.assert_allclose(tp.e[0], 2.54, rtol=1e-6)
    np.testing.assert_allclose(tp.feed[0], 60 * 25.4, rtol=1e-6)
    np.testing.assert_allclose(tp.end[1], [30, 50.8, 0], rtol=1e-6)


def test_g28_homes_named_axes_and_clears_offsets():
    tp = moves("G1 X10 Y10 Z5\nG92 X0\nG28 X\nG1 Y20\nG28\nG1 X1\n")
    np.testing.assert_allclose(tp.end[1], [0, 20, 5])  # X homed, Y/Z kept
    np.testing.assert_allclose(tp.end[2], [1, 0, 0])


def test_tool_changes_and_firmware_retraction():
    tp = moves("T1\nG1 X1 E1\nG10\nG1 X5\nG11\nT0\nG1 X6 E1\nG10 L2 P1 X3\n")
    assert tp.tool.tolist() == [1, 1, 0]
    np.testing.assert_allclose(tp.end[:, 0], [1, 5, 6])  # G10 L2 P1 X3 is an offset, not a move


def test_modal_motion_repeats_last_g():
    tp = moves("G1 X1 E1\nX2 E2\nY3\n")
    np.testing.assert_allclose(tp.end, [[1, 0, 0], [2, 0, 0], [2, 3, 0]])
    assert tp.extrude.tolist() == [True, True, False]


def test_feed_only_and_e_only_lines():
    tp = moves("G1 F1800\nG1 E-2\nG1 E0\nG1 X1 E0.1\n")
    assert len(tp) == 3  # F alone is no move; E-only retract/prime are moves
    assert tp.extrude.tolist() == [False, False, True]
    np.testing.assert_allclose(tp.e, [-2, 2, 0.1])
    assert tp.filament_mm == pytest.approx(0.1)


# ---- arcs ---------------------------------------------------------------------------


def _on_circle(tp, cx, cy, r, tol):
    pts = np.concatenate([tp.start[:, :2], tp.end[:, :2]]).astype(np.float64)
    np.testing.assert_allclose(np.hypot(pts[:, 0] - cx, pts[:, 1] - cy), r, atol=1e-4)
    # chord error: distance from each chord midpoint to the arc
    mid = (tp.start[:, :2] + tp.end[:, :2]).astype(np.float64) / 2
    err = r - np.hypot(mid[:, 0] - cx, mid[:, 1] - cy)
    assert err.max() <= tol + 1e-6


@pytest.mark.parametrize("tol", [0.1, 0.01, 0.001])
def test_g3_quarter_circle_ij_bounded_chord_error(tol):
    tp = parse_gcode(b"G1 X10 Y0\nG3 X0 Y10 I-10 J0 E5\n", arc_tolerance=tol)
    arc = tp.take(1, len(tp))
    _on_circle(arc, 0, 0, 10, tol)
    np.testing.assert_allclose(arc.end[-1], [0, 10, 0], atol=1e-6)
    assert arc.e.sum() == pytest.approx(5)
    # counter-clockwise: angle increases along the arc
    ang = np.unwrap(np.arctan2(arc.end[:, 1], arc.end[:, 0]))
    assert np.all(np.diff(ang) > 0)
    expected = math.ceil((math.pi / 2) / (2 * math.acos(1 - tol / 10)))
    assert len(arc) == expected


def test_g2_clockwise_r_form_and_helix():
    tp = moves("G1 X0 Y10 Z1\nG2 X10 Y0 R10 Z2 E3\n")
    arc = tp.take(1, len(tp))
    _on_circle(arc, 0, 0, 10, 0.01)
    ang = np.unwrap(np.arctan2(arc.end[:, 1], arc.end[:, 0]))
    assert np.all(np.diff(ang) < 0)
    np.testing.assert_allclose(arc.end[-1], [10, 0, 2], atol=1e-5)
    assert np.all(np.diff(arc.end[:, 2]) > 0)


def test_negative_r_takes_the_long_way_and_full_circle():
    short = moves("G1 X10 Y0\nG3 X0 Y10 R10\n").take(1, None)
    long = moves("G1 X10 Y0\nG3 X0 Y10 R-10\n").take(1, None)
    length = lambda t: np.linalg.norm(t.end - t.start, axis=1).sum()  # noqa: E731
    assert length(short) == pytest.approx(math.pi * 5, rel=1e-3)
    assert length(long) == pytest.approx(math.pi * 15, rel=1e-3)
    full = moves("G1 X10 Y0\nG2 X10 Y0 I-10 J0\n").take(1, None)
    assert length(full) == pytest.approx(2 * math.pi * 10, rel=1e-3)


def test_bad_arcs_are_errors():
    with pytest.raises(GcodeError, match="line 2.*arc"):
        moves("G1 X1\nG2 X5 Y5\n")
    with pytest.raises(GcodeError, match="G18/G19"):
        moves("G18\nG2 X1 I1\n")


# ---- syntax -------------------------------------------------------------------------


def test_comments_line_numbers_checksums_case_and_spaces():
    text = (
        "\ufeff; header comment\r\n"
        "N1 G1 X1 Y2 E0.5*57\r\n"
        "g1 x2 (inline comment with X99) y3 e1 ; trailing X77\r\n"
        "G 1 X 3 Y -4 E 1.5\r\n"
        "G1X4Y5E2\r\n"
        "G1 X5 ; no final newline"
    )
    tp = parse_gcode(text.encode("utf-8"))
    np.testing.assert_allclose(tp.end[:, :2], [[1, 2], [2, 3], [3, -4], [4, 5], [5, 5]])
    assert tp.line.tolist() == [2, 3, 4, 5, 6]
    assert tp.lines == 6


def test_number_forms_follow_marlin():
    tp = moves("G1 X.5 Y-.25 Z+1\nG1 X1E2\n")  # X1E2 is X1 E2, not 100
    np.testing.assert_allclose(tp.end[0], [0.5, -0.25, 1])
    np.testing.assert_allclose(tp.end[1, 0], 1)
    np.testing.assert_allclose(tp.e[1], 2)


def test_text_commands_and_macros_are_ignored():
    tp = moves(
        'M117 G1 X99 printing\nM862.3 P "MK3S"\nSET_FAN_SPEED FAN=x SPEED=1\nPAUSE\n'
        "EXCLUDE_OBJECT_DEFINE NAME=a\n%\nG1 X1 E1\nM23 g1 x5.gco\n"
    )
    np.testing.assert_allclose(tp.end, [[1, 0, 0]])


def test_feature_comments_mark_support_skirt_brim_raft_and_towers():
    text = (
        "M83\n"
        ";TYPE:Skirt/Brim\nG1 X1 E1\n"  # PrusaSlicer
        ";TYPE:External perimeter\nG1 X2 E1\n"
        ";TYPE:Support material interface\nG1 X3 E1\n"
        "G1 X4 E1 ;TYPE:Perimeter\n"  # a comment after a move names no feature
        "; LAYER_CHANGE\nG1 X5 E1\n"  # other comments keep the feature
        ";TYPE:WALL-OUTER\nG1 X6 E1\n"  # Cura
        ";TYPE:SKIRT\nG1 X7 E1\nG1 X0\n"  # travel is marked too; only extrusion matters
        "; FEATURE: Prime tower\nG1 X8 E1\n"  # Bambu Studio, OrcaSlicer
        "; FEATURE: Outer wall\nG1 X9 E1\n"
        "; feature raft\nG1 X10 E1\n"  # Simplify3D
        "; feature outer perimeter\nG1 X11 E1\n"
        ";type:wipe tower\nG1 X12 E1\n"  # any case
        ";TYPE:Custom\nG1 X13 E1\n"
    )
    tp = moves(text)
    assert tp.aux.astype(int).tolist() == [1, 0, 1, 1, 1, 0, 1, 1, 1, 0, 1, 0, 1, 0]
    assert moves(re.sub(r";[^\n]*", "", text)).aux.sum() == 0  # stripped comments: everything is the object
    obj = tp.object_moves()
    np.testing.assert_array_equal(obj.extrude, tp.extrude & ~tp.aux)
    assert obj.end is tp.end and obj.layer is tp.layer  # the same moves, no copies
    assert moves("G1 X1 E1\n").object_moves().extrude.all()


# ---- layers -------------------------------------------------------------------------


def test_layers_from_geometry_ignore_travel_and_zhop():
    text = (
        "M83\nG1 Z0.2\nG1 X10 E1\nG1 Z0.6\nG1 X0\nG1 Z0.2\nG1 Y10 E1\n"  # z-hop travel, same layer
        "G1 Z0.4\nG1 X10 E1\nG1 Z0.6\nG1 X20 E1\n"
    )
    tp = moves(text)
    assert tp.n_layers == 3
    np.testing.assert_allclose(tp.layer_z, [0.2, 0.4, 0.6], atol=1e-6)
    assert tp.layer.tolist() == [0, 0, 0, 0, 0, 0, 0, 1, 1, 2]  # travel keeps its layer


def spiral_gcode(turns: int = 8, rounded: bool = True) -> str:
    """Two flat 20 mm squares at 0.2 and 0.4 mm, then a spiral vase wall climbing 0.2 mm
    per turn in 4 moves; ``rounded``: one move of each turn written with the Z of the one
    before (a slicer's 3-decimal Z makes some spiral steps look flat)."""
    corners = [(20, 0), (20, 20), (0, 20), (0, 0)]
    out = ["M83", "G1 Z0.2", "G1 X0 Y0"]
    out += [f"G1 X{x} Y{y} E1" for x, y in corners]
    out += ["G1 Z0.4"] + [f"G1 X{x} Y{y} E1" for x, y in corners]
    z = 0.4
    for t in range(turns):
        for k, (x, y) in enumerate(corners):
            z_next = 0.4 + 0.2 * t + 0.05 * (k + 1)
            z = z if rounded and k == 1 else z_next
            out.append(f"G1 X{x} Y{y} Z{z:.3f} E1")
    return "\n".join(out) + "\n"


@pytest.mark.parametrize("rounded", [False, True])
def test_a_spiral_vase_wall_has_one_layer_per_turn(rounded):
    """Moves that climb while they extrude are one spiral: a layer is one turn (0.2 mm,
    the step between the flat layers before it), not one move."""
    tp = moves(spiral_gcode(rounded=rounded))
    assert tp.n_layers == 10  # two flat layers, the eight turns start a layer each 0.2 mm up
    np.testing.assert_allclose(tp.layer_z, 0.2 * np.arange(1, 11), atol=1e-6)
    per_layer = np.bincount(tp.layer[tp.extrude])
    assert per_layer[2:9].tolist() == [4] * 7  # a whole turn, wherever its moves' Z was rounded


def test_a_spiral_from_the_first_layer_and_a_flat_layer_after_it():
    """Without a flat layer to measure, a spiral turn is taken as 0.2 mm; a flat move
    a layer above the spiral ends it, and flat layers count again from there."""
    text = "M83\nG1 Z0.1\n" + "".join(f"G1 X{20 * (k % 2)} Y{10 * (k // 2 % 2)} Z{0.1 + 0.05 * k:.2f} E1\n"
                                         for k in range(1, 9))
    text += "G1 Z0.7\nG1 X10 E1\nG1 Z0.75\nG1 X5 E1\n"  # the spiral climbed to 0.5 mm
    tp = moves(text)
    np.testing.assert_allclose(tp.layer_z, [0.15, 0.35, 0.7, 0.75], atol=1e-6)


@pytest.mark.parametrize("path", SMALL_REAL_FILES, ids=lambda p: p.name)
def test_layers_survive_stripped_comments(path):
    text = gzip.decompress(path.read_bytes())
    stripped = re.sub(rb";[^\n]*", b"", text)
    a, b = parse_gcode(text), parse_gcode(stripped)
    assert a.n_layers == b.n_layers
    np.testing.assert_array_equal(a.end, b.end)
    np.testing.assert_array_equal(a.layer, b.layer)


# ---- real files ---------------------------------------------------------------------


def _comment_layers(text: bytes) -> int:
    if b";LAYER_CHANGE" in text:
        return text.count(b";LAYER_CHANGE")
    return int(re.search(rb";LAYER_COUNT:(\d+)", text).group(1))


@pytest.mark.parametrize("path", REAL_FILES, ids=lambda p: p.name)
def test_real_files_layers_bbox_and_filament(path):
    text = gzip.decompress(path.read_bytes())
    tp = parse_gcode(path)
    assert tp.lines == text.count(b"\n") + (not text.endswith(b"\n"))
    assert tp.n_layers == _comment_layers(text)
    box = tp.bbox()
    assert np.all(box[0] >= [0, 0, 0]) and np.all(box[1] <= [220, 220, 250]), box
    assert np.all(np.diff(tp.layer) >= 0) and np.all(np.diff(tp.layer_z) > 0)
    reported = re.search(rb"; filament used \[mm\] = ([\d.]+)", text)
    if reported:  # PrusaSlicer reports it; Cura's header says 0m
        assert tp.filament_mm == pytest.approx(float(reported.group(1)), rel=1e-5)  # Prusa sums unrounded E


def _oracle_ends(text: str):
    """End point of every G0/G1 line from pygcode's words and a minimal modal interpreter."""
    import pygcode

    pos, e, rel, rel_e = np.zeros(3), 0.0, False, False
    out = {}
    for no, raw in enumerate(text.splitlines(), 1):
        raw = raw.split(";", 1)[0]
        if not raw.strip():
            continue
        words = {w.letter: w.value for w in pygcode.Line(raw).block.words}
        g = words.get("G")
        if "M" in words:
            rel_e = {82: False, 83: True}.get(int(words["M"]), rel_e)
            continue
        if g in (0, 1):
            for k, ax in enumerate("XYZ"):
                if ax in words:
                    pos[k] = pos[k] + words[ax] if rel else words[ax]
            if "E" in words:
                de = words["E"] if rel_e else words["E"] - e
                e = e + de
                out[no] = (pos.copy(), de)
            elif any(a in words for a in "XYZ"):
                out[no] = (pos.copy(), 0.0)
        elif g == 92:
            e = words.get("E", e)
        elif g == 90:
            rel = rel_e = False
        elif g == 28:
            pos[:] = 0
    return out


@pytest.mark.parametrize("name", ["box_prusa", "box_prusa_marlin", "cylinder_cura", "lshape_cura"])
def test_moves_match_pygcode_tokens(name):
    path = real_file(name)
    text = gzip.decompress(path.read_bytes()).decode()
    expected = _oracle_ends(text)
    tp = parse_gcode(path)
    got = {int(ln): i for i, ln in enumerate(tp.line)}
    moved = {ln: v for ln, v in expected.items() if ln in got}
    assert len(moved) > 0.95 * len(expected)  # the rest are no-ops (same point, no E)
    for ln, (xyz, de) in moved.items():
        i = got[ln]
        np.testing.assert_allclose(tp.end[i], xyz, atol=1e-4, err_msg=f"line {ln}")
        assert tp.e[i] == pytest.approx(de, abs=1e-4), f"line {ln}"


# ---- streaming ----------------------------------------------------------------------


@pytest.mark.parametrize("path", REAL_FILES, ids=lambda p: p.name)
def test_stream_equals_whole_file(path):
    text = gzip.decompress(path.read_bytes())
    whole = parse_gcode(text)
    rng = np.random.default_rng(len(text))
    sp, layers, pos = StreamParser(path.name), [], 0
    while pos < len(text):
        step = int(rng.integers(1, 20000))
        layers += sp.feed(text[pos : pos + step])
        pos += step
    layers += sp.close()
    assert sp.toolpath().equals(whole)
    assert len(layers) == whole.n_layers
    for k, layer in enumerate(layers):
        i, j = whole.layer_range(k)
        assert len(layer) == j - i and np.array_equal(layer.end, whole.end[i:j])
        assert np.all(layer.layer == k)


def test_stream_reports_layer_once_next_layer_starts():
    sp = StreamParser(batch_bytes=1)
    assert sp.feed("M83\nG1 Z0.2\n") == []
    assert sp.feed("G1 X10 E1\n") == []
    assert sp.feed("G1 Z0.4\n") == []  # travel up: layer 0 may still continue
    done = sp.feed("G1 X0 E1\n")
    assert len(done) == 1 and len(done[0]) == 3 and done[0].layer_z[0] == pytest.approx(0.2)
    last = sp.close()
    assert len(last) == 1 and last[0].layer.tolist() == [1]


def test_stream_line_by_line_str():
    path = real_file("lshape_cura")
    text = gzip.decompress(path.read_bytes()).decode()
    sp = StreamParser()
    n = sum(len(sp.feed(line)) for line in text.splitlines(keepends=True))
    n += len(sp.close())
    assert n == 50 and sp.toolpath().equals(parse_gcode(path))


# ---- bad input ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "data, match",
    [
        (b"", "empty"),
        (b"G1 X1\n\x00\x01\x02binary", "line 2, column 1: binary"),
        (b"G1 X1 E1\nG1 X\x07 Y1\n", "line 2.*binary"),
        (b"G1 X1 \xff\xfe\n", "line 1.*binary"),
        (b"\xff\xfeG\x001\x00", "UTF-16"),
        (b"GCDE\x01\x00\x00\x00\x01\x00", "bgcode.*not supported"),
        (b"G1 X1\nG1 Xnan Y1\n", "line 2.*not a number"),
        (b"G1 Yinf\n", "line 1.*not a number"),
        (b"G1 X-INF\n", "not a number"),
        (b"G1 X" + b"9" * 309 + b"\n", "line 1.*beyond 10 m"),
        (b"G1 X" + b"9" * 400 + b"\n", "beyond 10 m"),
        (b"G1 X5\nG1 Z20000 E1\n", "line 2.*beyond 10 m"),
        (b"G1 E1" + b"0" * 12 + b"\n", "beyond"),
        (b"G1 X.\n", "not a number"),
    ],
)
def test_bad_input_is_a_gcode_error(data, match):
    with pytest.raises(GcodeError, match=match):
        parse_gcode(data, name="bad.gcode")


def test_gzip_bytes_and_files_are_detected(tmp_path):
    text = b"G1 X1 E1\nG1 X2 E2\n"
    (tmp_path / "a.gcode").write_bytes(gzip.compress(text))  # gzip without a .gz name
    for src in (gzip.compress(text), tmp_path / "a.gcode", io.BytesIO(gzip.compress(text))):
        assert parse_gcode(src).equals(parse_gcode(text))


def test_error_names_the_file(tmp_path):
    p = tmp_path / "junk.gcode"
    p.write_bytes(b"G1 X1\n" * 10 + b"\x00")
    with pytest.raises(GcodeError, match=r"junk.gcode: line 11"):
        parse_gcode(p)
    with pytest.raises(GcodeError, match="no such file"):
        parse_gcode(tmp_path / "missing.gcode")
    (tmp_path / "trunc.gcode.gz").write_bytes(gzip.compress(b"G1 X1\n" * 1000)[:-20])
    with pytest.raises(GcodeError, match="cannot read"):
        parse_gcode(tmp_path / "trunc.gcode.gz")
    corrupt = bytearray(gzip.compress(b"G1 X1\n" * 10000))
    corrupt[60:80] = b"x" * 20
    with pytest.raises(GcodeError, match="cannot read"):
        parse_gcode(bytes(corrupt))


class _Endless(io.RawIOBase):
    """A file of ``size`` bytes of ``fill`` that is never held in memory."""

    def __init__(self, size, fill=b"X", line=b""):
        self.left, self.fill, self.line, self.read_bytes = size, fill, line, 0
        self.name = "stream.gcode"

    def readable(self):
        return True

    def readinto(self, b):
        n = min(len(b), self.left)
        if self.line:
            k = self.read_bytes % len(self.line)
            pattern = (self.line * (n // len(self.line) + 2))[k : k + n]
        else:
            pattern = self.fill * n
        b[:n] = pattern
        self.left -= n
        self.read_bytes += n
        return n


def test_two_gigabyte_line_fails_fast_without_reading_it_all():
    src = _Endless(2 << 30)
    with pytest.raises(GcodeError, match="line 1: line longer than"):
        parse_gcode(io.BufferedReader(src, 1 << 20))
    assert src.read_bytes < 64 << 20


def test_memory_is_bounded_on_a_large_file():
    line = b"; a comment line as slicers write by the thousand, not a move at all\n"
    src = _Endless(256 << 20, line=line)
    tracemalloc.start()
    tp = parse_gcode(io.BufferedReader(src, 1 << 20))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert tp.lines == (256 << 20) // len(line) + 1
    assert peak < 80 << 20, f"peak {peak >> 20} MiB for a 256 MiB file"


# ---- properties ---------------------------------------------------------------------


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_arbitrary_bytes_parse_or_raise_gcode_error(data):
    try:
        parse_gcode(data)
    except GcodeError:
        pass


_word = st.builds(
    lambda letter, v: f"{letter}{v}",
    st.sampled_from(list("GXYZEFIJRT") + ["G1 ", "G0 ", "G92 ", "M83 ", "M82 ", "G91 ", "G90 "]),
    st.floats(-200, 200, allow_nan=False).map(lambda v: f"{v:.3f}"),
)
_line = st.lists(_word, max_size=5).map(" ".join) | st.sampled_from(
    ["; c", "G2 X1 Y1 I1", "G10", "G11", "G28", "", ";TYPE:Support material", ";TYPE:Perimeter", "; FEATURE: Brim"])


@settings(max_examples=200, deadline=None)
@given(st.lists(_line, max_size=40), st.lists(st.integers(1, 64), min_size=1, max_size=20))
def test_stream_equals_whole_file_on_generated_gcode(lines, cuts):
    data = "\n".join(lines).encode()
    try:
        whole = parse_gcode(data) if data else None
    except GcodeError:
        return
    sp, pos, k = StreamParser(batch_bytes=16), 0, 0
    while pos < len(data):
        sp.feed(data[pos : pos + cuts[k % len(cuts)]])
        pos += cuts[k % len(cuts)]
        k += 1
    if whole is None:
        with pytest.raises(GcodeError):
            sp.close()
        return
    sp.close()
    assert sp.toolpath().equals(whole)


def test_scanner_split_anywhere_equals_whole():
    path = real_file("box_prusa_marlin")
    text = gzip.decompress(path.read_bytes())
    whole = parse_gcode(text)
    for cut in (1, 2, 3, 5, 100, len(text) // 2):
        sc = Scanner()
        sc.feed(text[:cut])
        sc.feed(text[cut:], final=True)
        assert sc.toolpath().equals(whole)


def test_multi_member_gzip_equals_one_stream(tmp_path):
    text = b"".join(f"G1 X{i % 50} Y{i % 7} E{0.1 * i:.2f}\n".encode() for i in range(3000))
    cut = len(text) // 3 + 5  # a member ends in the middle of a line
    two = gzip.compress(text[:cut]) + gzip.compress(text[cut:])
    (tmp_path / "two.gcode.gz").write_bytes(two)
    assert parse_gcode(tmp_path / "two.gcode.gz").equals(parse_gcode(text))
    with pytest.raises(GcodeError, match="cannot read"):
        parse_gcode(two[:-10])  # the second member is truncated


def test_gzip_reads_the_same_with_plain_zlib(tmp_path, monkeypatch):
    """ISA-L inflates .gz files where its wheels exist; zlib is the fallback, and both
    must give the same toolpath and the same errors."""
    import zlib

    from c3po import gcode

    text = b"".join(f"G1 X{i % 50} Y{i % 7} E{0.1 * i:.2f}\n".encode() for i in range(3000))
    two = gzip.compress(text[:5000]) + gzip.compress(text[5000:])
    fast = parse_gcode(two)
    monkeypatch.setattr(gcode, "_inflate", zlib)
    assert parse_gcode(two).equals(fast) and fast.equals(parse_gcode(text))
    with pytest.raises(GcodeError, match="cannot read"):
        parse_gcode(two[:-10])


@pytest.mark.parametrize("hint", [0, 0.001, 0.5, 1.0, 100.0])
def test_scanner_size_hint_only_sizes_the_output(hint):
    """The size hint (a file's length, or a .gz file's recorded one) sizes the output
    once; a hint far too small or too large still gives the same moves."""
    text = b"".join(f"G1 X{i % 50} Y{i % 7} Z{i // 5000 * 0.2:.1f} E{0.1 * i:.2f}\n".encode() for i in range(60_000))
    whole = parse_gcode(text)
    sc = Scanner(size_hint=int(hint * len(text)))
    for i in range(0, len(text), 1 << 16):
        sc.feed(text[i : i + (1 << 16)])
    sc.feed(b"", final=True)
    got = sc.finish()
    assert got.equals(whole) and len(got) > 50_000 and got.n_layers == 12

"""The c3po command: JSON contracts, exit codes, one-line errors."""

import json
import os
import subprocess
import sys

import pytest

from c3po import parse_gcode
from tests.conftest import ROOT, real_file


def run(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "c3po", *map(str, args)],
        capture_output=True, text=True, timeout=300, cwd=ROOT, env=env,
    )


def test_parse_json_contract():
    path = real_file("box_prusa")
    r = run("parse", path, "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert list(out) == ["lines", "moves", "extrude_moves", "layers", "bbox", "filament_mm"]
    assert out["lines"] == 8170 and out["layers"] == 66
    assert out["bbox"] == [[73.375, 78.375, 0.35], [126.625, 121.625, 19.85]]
    assert out["filament_mm"] == pytest.approx(3753.59, abs=0.01)
    assert out == parse_gcode(path).summary()


def test_parse_human_readable():
    path = real_file("lshape_cura")
    r = run("parse", path)
    assert r.returncode == 0 and "layers" in r.stdout and "50" in r.stdout


@pytest.mark.parametrize(
    "content, message",
    [(None, "no such file"), (b"", "empty"), (b"G1 X1\n\x00", "line 2, column 1: binary")],
)
def test_errors_are_one_line_and_exit_2(tmp_path, content, message):
    path = tmp_path / "in.gcode"
    if content is not None:
        path.write_bytes(content)
    r = run("parse", path, "--json")
    assert r.returncode == 2
    assert r.stdout == ""
    assert r.stderr.count("\n") == 1 and message in r.stderr and str(path) in r.stderr
    assert "Traceback" not in r.stderr


def test_a_folder_is_named_as_one(tmp_path):
    r = run("parse", tmp_path)
    assert r.returncode == 2 and f"{tmp_path}: is a folder" in r.stderr and "Traceback" not in r.stderr


def test_an_unwritable_output_is_a_one_line_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    r = run("render", real_file("box_prusa"), "--out", blocker / "views.png")
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and str(blocker) in r.stderr and "Traceback" not in r.stderr


def test_pure_python_fallback_is_the_same_logic():
    path = real_file("box_prusa_marlin")
    env = dict(os.environ, C3PO_NO_NUMBA="1")
    code = (
        "import json, c3po; from c3po import _jit; assert not _jit.HAVE_NUMBA; "
        f"print(json.dumps(c3po.parse_gcode({str(path)!r}).summary()))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == parse_gcode(path).summary()


def test_import_c3po_does_not_import_torch():
    code = "import sys, c3po, c3po.cli, c3po.gcode; print('torch' in sys.modules, 'trimesh' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.stdout.split() == ["False", "False"], r.stderr


def test_demo_summarises_samples():
    r = run("demo")
    assert r.returncode == 0, r.stderr
    assert "box_prusa.gcode.gz" in r.stdout and "66" in r.stdout
    assert "streamlit run app/streamlit_app.py" in r.stdout  # how to start the web app

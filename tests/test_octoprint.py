"""The OctoPrint plugin against a real OctoPrint 1.11 server and its Virtual Printer.

One server per module (``tests/octoprint_server.py`` installs OctoPrint in its own venv on
first use); each test sets the plugin settings it needs through the settings API. Two
tiny bundles written here (a constant "pistol" and a constant "mug" network) test the
plugin's mechanics independently of the trained model; the trained ``models/default``
judges real pistols sliced by the built-in slicer and by PrusaSlicer.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from c3po.gcode import parse_gcode
from c3po.runtime import save_safetensors
from tests.conftest import ROOT
from tests.octoprint_server import OctoPrintServer

DEFAULT_MODEL = ROOT / "models" / "default"
CLASSES = ["pistol", "revolver", "rifle", "drill", "hair_dryer", "stapler", "hammer", "wrench", "mug", "gear"]
BASE = {"enabled": True, "threshold": None, "action": "cancel", "heaters_off": True, "upload_policy": "off",
        "fail_policy": "refuse", "sd_policy": "refuse", "watch_terminal": False}
PRINT_TIMEOUT = 60  # s; the Virtual Printer runs about 1500 lines/s

pytestmark = pytest.mark.timeout(300)


def write_bundle(path: Path, label: str) -> Path:
    """A bundle whose network says ``label`` for every object (a gap + linear of zeros)."""
    path.mkdir(parents=True, exist_ok=True)
    bias = np.full(len(CLASSES), -10.0, np.float32)
    bias[CLASSES.index(label)] = 10.0
    save_safetensors(path / "model.safetensors", {"fc.weight": np.zeros((len(CLASSES), 3), np.float32), "fc.bias": bias})
    spec = {"layers": [{"type": "gap"}, {"type": "linear", "name": "fc"}], "weights": "model.safetensors",
            "input": {"size": 32}}
    (path / "bundle.json").write_text(json.dumps(
        {"classes": CLASSES, "weapon_classes": CLASSES[:3], "threshold": 0.5, "models": {"projection": spec}}))
    return path


def fast(gcode: bytes) -> bytes:
    """The same toolpath, printable in seconds: no heat-up waits or dwells, every move at F600000."""
    gcode = re.sub(rb"(?m)^(M109|M190|M116|G4)\b[^\n]*\n", b"", gcode)
    return re.sub(rb"(?m)^(G[0-3]\b[^;\n]*?)F[0-9.]+", rb"\1F600000", gcode)


def paced(gcode: bytes, layer_s: float = 0.4) -> bytes:
    """``gcode`` with a dwell of ``layer_s`` before each layer: the Virtual Printer takes
    that long per layer, as a real printer takes seconds to minutes. Unpaced, it runs about
    a dozen small layers a second, faster than any detector on a busy 2-core machine."""
    return re.sub(rb"(?m)^(;LAYER_CHANGE|;LAYER:\d)", b"G4 P%d\n\\1" % round(layer_s * 1000), gcode)


def scan_json(path: Path, model: Path) -> dict:
    """What ``c3po scan --json`` reports."""
    r = subprocess.run([sys.executable, "-m", "c3po", "scan", str(path), "--json", "--model", str(model)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode in (0, 1), r.stderr
    return json.loads(r.stdout.splitlines()[0])


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    return {"pistol": write_bundle(root / "pistol", "pistol"), "mug": write_bundle(root / "mug", "mug"),
            "missing": root / "missing"}


@pytest.fixture(scope="module")
def server(tmp_path_factory, models):
    srv = OctoPrintServer(tmp_path_factory.mktemp("octoprint") / "base", {**BASE, "model_path": str(models["mug"])})
    srv.start()
    try:
        srv.connect()
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def op(server):
    """The server, idle, with the base settings; prints the log tail when the test fails."""
    if server.state() != "Operational":
        server.post("/api/job", {"command": "cancel"})
        server.wait(lambda: server.state() == "Operational", 30, "the printer to be idle")
    server.settings(**BASE)
    seen = {e["time"] for e in server.c3po()["events"]}
    server.new_events = lambda: [e for e in server.c3po()["events"] if e["time"] not in seen]
    yield server
    print(server.log_tail(80))  # pytest shows it only when the test fails


def events_of(op, kind: str, timeout: float = 20) -> list[dict]:
    return op.wait(lambda: [e for e in op.new_events() if e["kind"] == kind], timeout, f"a c3po '{kind}' event")


def print_and_wait(op, name: str, data: bytes, timeout: float = PRINT_TIMEOUT) -> None:
    status, body = op.upload(name, data, print_=True)
    assert status == 201, body

    def started():
        job = op.job()
        return job["state"] != "Operational" or op.new_events() or (
            job["job"]["file"]["name"] == name and job["progress"]["completion"] == 100)

    op.wait(started, 10, f"{name} to start")
    op.wait(lambda: op.state() == "Operational", timeout, f"{name} to end", interval=0.25)


@pytest.fixture(scope="module")
def pistols(tmp_path_factory) -> dict[str, bytes]:
    """A pistol sliced by each slicer, made fast to print."""
    pytest.importorskip("trimesh")
    from c3po.shapes import create_shape
    from c3po.slicer import slice_mesh

    mesh = create_shape("pistol", seed=7)
    return {s: fast(slice_mesh(mesh, s)) for s in ("builtin", "prusa")}


def box() -> bytes:
    import gzip

    return fast(gzip.decompress((ROOT / "data" / "samples" / "box_prusa.gcode.gz").read_bytes()))


# ---- tests ----------------------------------------------------------------------------------


def test_clean_print_completes(op, models):
    op.settings(model_path=str(models["mug"]), upload_policy="block")
    print_and_wait(op, "box.gcode", box())
    job = op.job()
    assert job["progress"]["completion"] == 100
    assert not [e for e in op.new_events() if e["kind"] in ("flagged", "refused", "blocked", "error")]


@pytest.mark.skipif(not (DEFAULT_MODEL / "bundle.json").exists(), reason="models/default not trained yet")
def test_clean_print_completes_with_default_model(op):
    op.settings(model_path="", upload_policy="block")
    assert op.c3po()["model"]["ok"]
    print_and_wait(op, "box_default.gcode", box())
    assert op.job()["progress"]["completion"] == 100
    assert not [e for e in op.new_events() if e["kind"] in ("flagged", "refused", "blocked", "error")]


def _cancelled_near_flag_layer(op, tmp_path, name: str, data: bytes, model: Path):
    data = paced(data)
    path = tmp_path / name
    path.write_bytes(data)
    expected = scan_json(path, model)
    assert expected["verdict"] == "weapon" and expected["flag_layer"] is not None, expected
    op.settings(model_path="" if model == DEFAULT_MODEL else str(model), upload_policy="off", action="cancel")
    t0 = time.monotonic()
    print_and_wait(op, name, data)
    (flag,) = events_of(op, "flagged")
    assert "print cancelled" in flag["message"] and abs(flag["layer"] - expected["flag_layer"]) <= 2, flag
    # what the printer was sent: the file up to the position at which the plugin stopped it
    printed = parse_gcode(data[: flag["filepos"]]).n_layers
    assert abs(printed - expected["flag_layer"]) <= 2, (printed, expected)
    assert (op.job()["progress"]["completion"] or 0) < 100
    assert time.monotonic() - t0 < PRINT_TIMEOUT


def test_weapon_print_cancelled_near_flag_layer(op, tmp_path, models):
    """Mechanics, with a network that calls everything a pistol."""
    _cancelled_near_flag_layer(op, tmp_path, "anything.gcode", box(), models["pistol"])


@pytest.mark.skipif(not (DEFAULT_MODEL / "bundle.json").exists(), reason="models/default not trained yet")
@pytest.mark.parametrize("slicer", ["builtin", "prusa"])
def test_pistol_cancelled_early(op, tmp_path, pistols, slicer):
    _cancelled_near_flag_layer(op, tmp_path, f"pistol_{slicer}.gcode", pistols[slicer], DEFAULT_MODEL)


def test_block_policy_answers_415_and_stores_nothing(op, models):
    op.settings(model_path=str(models["pistol"]), upload_policy="block")
    status, _ = op.upload("blocked.gcode", box())
    assert status == 415
    assert op.get("/api/files/local/blocked.gcode")[0] == 404
    assert not list((op.basedir / "uploads").rglob("blocked.gcode"))
    (event,) = events_of(op, "blocked")
    assert "blocked.gcode" in event["message"] and "pistol" in event["message"]


def test_corrupt_upload_gets_a_clear_message(op, models):
    op.settings(model_path=str(models["mug"]), upload_policy="block")
    status, _ = op.upload("corrupt.gcode", b"G1 X1 Y1\n" + bytes(range(256)) * 4)
    assert status == 415
    (event,) = events_of(op, "blocked")
    assert "corrupt.gcode" in event["message"] and "binary" in event["message"], event


def test_flag_policy_stores_marks_and_refuses_to_print(op, models):
    op.settings(model_path=str(models["pistol"]), upload_policy="flag")
    status, _ = op.upload("flagged.gcode", box())
    assert status == 201
    events_of(op, "flagged")
    op.wait(lambda: op.get("/api/files/local/flagged.gcode")[1].get("c3po"), 10, "the file's c3po mark")
    assert op.get("/api/files/local/flagged.gcode")[1]["c3po"]["verdict"] == "weapon"
    status, body = op.post("/api/files/local/flagged.gcode", {"command": "select", "print": True})
    assert status == 204, body
    (event,) = events_of(op, "refused")
    assert "refused" in event["message"] and event["filepos"] == 0, event
    op.wait(lambda: op.state() == "Operational", 20, "the refused job to end")
    assert (op.job()["progress"]["completion"] or 0) < 100


def test_missing_model_follows_fail_policy(op, models):
    op.settings(model_path=str(models["missing"]), fail_policy="refuse")
    status = op.c3po()["model"]
    assert not status["ok"] and "bundle.json" in status["error"]
    print_and_wait(op, "nomodel.gcode", box())
    (event,) = events_of(op, "refused")
    assert "no usable model" in event["message"] and event["filepos"] == 0, event
    assert (op.job()["progress"]["completion"] or 0) < 100

    op.settings(fail_policy="allow")
    print_and_wait(op, "nomodel.gcode", box())
    assert op.job()["progress"]["completion"] == 100
    assert [e for e in op.new_events() if e["kind"] == "warning" and "unwatched" in e["message"]]


def test_sd_printing_is_refused(op, models):
    op.settings(model_path=str(models["mug"]), sd_policy="refuse")
    sd = op.basedir / "virtualSd"
    sd.mkdir(exist_ok=True)
    # not an 8.3 name: the Virtual Printer lists those only by their DOS alias
    (sd / "sd_print_test.gcode").write_bytes(box())
    op.post("/api/printer/sd", {"command": "init"})
    op.wait(lambda: op.get("/api/printer/sd")[1]["ready"], 20, "the SD card to be ready")

    def listed():
        op.post("/api/printer/sd", {"command": "refresh"})
        return [f["path"] for f in op.get("/api/files/sdcard")[1]["files"]]

    (path,) = op.wait(listed, 20, "the SD file to be listed", interval=0.5)

    def selected():
        # a refresh still running empties the printer's SD list for a moment (404): retry
        status, body = op.post(f"/api/files/sdcard/{path}", {"command": "select", "print": True})
        assert status in (204, 404), body
        return status == 204

    op.wait(selected, 20, "the SD file to be selected", interval=0.5)
    (event,) = events_of(op, "refused")
    assert "SD card" in event["message"]
    op.wait(lambda: op.state() == "Operational", 30, "the SD print to be cancelled")


def test_queuing_hook_is_cheap_and_never_raises(server, models, tmp_path):
    """The hook inside OctoPrint's Python, over every line of a real file (bench/plugin.py's measurement)."""
    import gzip

    path = tmp_path / "lshape.gcode"
    path.write_bytes(gzip.decompress((ROOT / "data" / "samples" / "lshape_cura.gcode.gz").read_bytes()))
    r = subprocess.run([str(server.bin / "python"), str(ROOT / "bench" / "plugin.py"), "--hook-only", str(path),
                        "--model", str(models["mug"])], capture_output=True, text=True, timeout=120, cwd="/")
    assert r.returncode == 0, r.stderr
    cost = json.loads(r.stdout)
    assert cost["exception_safe"] and not cost["worker_flagged"], cost
    assert cost["median_us"] <= 20, cost

"""The Streamlit demo (app/streamlit_app.py): its logic through AppTest, and a real browser.

The logic tests use a tiny untrained bundle exported here (they check what the page
shows, not which verdict); the browser test uploads the shipped sample pistol and needs
the shipped ``models/default`` bundle to call it a weapon.
"""

from __future__ import annotations

import gzip
import importlib.util
import io
import os
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ROOT

APP = ROOT / "app" / "streamlit_app.py"
SAMPLES = ROOT / "data" / "samples"
DEFAULT_MODEL = ROOT / "models" / "default"
PISTOL = SAMPLES / "pistol.gcode.gz"
SAMPLE = "box_prusa.gcode.gz"  # small and always shipped
CLASSES = ["pistol", "revolver", "rifle", "drill", "hair_dryer", "stapler", "hammer", "wrench", "mug", "gear"]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]

pytestmark = pytest.mark.timeout(180)
st_testing = pytest.importorskip("streamlit.testing.v1", reason="the app extra (streamlit) is not installed")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    """An untrained multiview bundle, exported the way training exports one."""
    import torch

    from c3po.export import add_model, write_bundle
    from c3po.nn import create_model

    out = tmp_path_factory.mktemp("tiny_model")
    torch.manual_seed(0)
    model = create_model("multiview", classes=len(CLASSES), size=32, widths=(4, 4, 4, 4)).eval()
    spec = {"type": "projections", "size": 32, "margin": 0.1, "canonical": False, "views": ["top", "front", "side"]}
    write_bundle(out, CLASSES, {"projection": add_model(out, "projection", model, spec)}, threshold=0.5)
    return out


def run_app(monkeypatch, model: Path) -> st_testing.AppTest:
    monkeypatch.setenv("C3PO_MODEL", str(model))
    at = st_testing.AppTest.from_file(str(APP), default_timeout=90)
    return at.run()


def verdict_html(at) -> str:
    return next((m.value for m in at.markdown if 'id="verdict"' in m.value), "")


def errors(at) -> list[str]:
    return [e.value for e in at.error]


def test_start_page_offers_samples(monkeypatch, tiny_model):
    at = run_app(monkeypatch, tiny_model)
    assert not at.exception and not errors(at)
    assert SAMPLE in at.selectbox(key="sample").options
    assert "Upload a file or pick a sample" in at.info[0].value
    assert not verdict_html(at)


def test_sample_shows_verdict_views_and_timeline(monkeypatch, tiny_model):
    at = run_app(monkeypatch, tiny_model)
    at.selectbox(key="sample").select(SAMPLE).run()
    assert not at.exception and not errors(at)
    html = verdict_html(at)
    assert SAMPLE in html and ("WEAPON" in html or "CLEAR" in html) and "weapon score" in html
    labels = {m.label: m.value for m in at.metric}
    assert labels["Most likely"].replace(" ", "_") in CLASSES
    assert 0 <= float(labels["Weapon score"]) <= 1
    assert [s.value for s in at.subheader][:4] == ["What the model sees", "Class probabilities", "Virtual camera",
                                                   "Streaming score"]
    slider = at.slider[0]
    assert slider.max == 66  # box_prusa has 66 layers
    slider.set_value(10).run()
    assert not at.exception
    assert _image_captions(at, "after layer 10 of 66")


def _image_captions(at, text: str) -> bool:
    """Whether an st.image caption contains ``text`` (captions live in the image protos)."""
    return any(text in (c or "") for el in at.get("image") for c in el.captions)


def test_gcode_upload_is_scanned(monkeypatch, tiny_model):
    at = run_app(monkeypatch, tiny_model)
    data = (SAMPLES / "lshape_cura.gcode.gz").read_bytes()
    at.file_uploader(key="upload").upload("my part.gcode", gzip.decompress(data)).run()
    assert not at.exception and not errors(at)
    assert "my part.gcode" in verdict_html(at)


def test_mesh_upload_is_sliced_and_scanned(monkeypatch, tiny_model):
    trimesh = pytest.importorskip("trimesh")
    buf = io.BytesIO()
    trimesh.creation.box((30, 20, 4)).export(buf, file_type="stl")
    at = run_app(monkeypatch, tiny_model)
    at.file_uploader(key="upload").upload("block.stl", buf.getvalue()).run()
    assert not at.exception and not errors(at)
    assert "block.stl" in verdict_html(at)
    assert at.slider[0].max == 20  # 4 mm at 0.2 mm layers


def _bad_files() -> dict[str, tuple[str, bytes, str]]:
    """name -> (upload name, bytes, a phrase the error must contain)."""
    good = (SAMPLES / SAMPLE).read_bytes()
    return {
        "binary junk": ("junk.gcode", bytes(range(256)) * 8, "binary data"),
        "empty": ("empty.gcode", b"", "empty"),
        "truncated gz": ("cut.gcode.gz", good[: len(good) // 2], "complete"),
        "no extrusion": ("travel.gcode", b"G28\nG1 X10 Y10 F3000\n", "no extruding moves"),
        "not a mesh": ("junk.stl", b"solid nothing\nendsolid nothing\n", "junk.stl"),
    }


@pytest.mark.parametrize("case", list(_bad_files()))
def test_bad_upload_shows_an_error_not_a_traceback(monkeypatch, tiny_model, case):
    name, data, phrase = _bad_files()[case]
    at = run_app(monkeypatch, tiny_model)
    uploader = at.file_uploader(key="upload")
    uploader.upload(name, data).run()
    assert not at.exception, at.exception
    assert not verdict_html(at)
    msgs = errors(at)
    assert len(msgs) == 1 and phrase in msgs[0], msgs


def test_upload_over_the_size_limit_is_refused(monkeypatch, tiny_model):
    at = run_app(monkeypatch, tiny_model)
    big = b"G1 X1 Y1 E0.1\n" * (51 * 2**20 // 14 + 1)
    at.file_uploader(key="upload").upload("huge.gcode", big).run()
    assert not at.exception and not verdict_html(at)
    assert "over the 50 MB upload limit" in errors(at)[0]


def _app_module():
    spec = importlib.util.spec_from_file_location("streamlit_app", APP)
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)  # defines the page; main() runs only under streamlit
    return app


def test_upload_limit_matches_streamlit_config():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] == _app_module().MAX_UPLOAD_MB == 50


def test_score_curve_marks_where_the_print_is_stopped():
    """The streaming figure of the shipped model on the sample pistol: one point per look,
    a dashed line per stop rule, and a red line at the layer the print is stopped."""
    from c3po.detect import Detector

    app, det = _app_module(), Detector.from_bundle(DEFAULT_MODEL)
    v = det.scan(PISTOL)
    assert v.flag_layer is not None
    ax, = app.curve_figure(v, det.policy, 30).axes
    points = ax.lines[0]
    assert list(points.get_xdata()) == [c["layer"] for c in v.curve]
    flat = [ln for ln in ax.lines if len(set(ln.get_ydata())) == 1 and ln.get_linestyle() == "--"]
    assert sorted(ln.get_ydata()[0] for ln in flat) == sorted(r["threshold"] for r in det.policy["rules"])
    stop = [ln for ln in ax.lines if ln.get_color() == app.WEAPON_RED]
    assert [ln.get_xdata()[0] for ln in stop] == [v.flag_layer]
    assert f"print stopped: layer {v.flag_layer}" in [t.get_text() for t in ax.get_legend().get_texts()]


def test_missing_model_names_how_to_get_one(monkeypatch, tmp_path):
    at = run_app(monkeypatch, tmp_path / "nowhere")
    assert not at.exception
    msg = errors(at)[0]
    assert "bundle.json" in msg and "models/default" in msg and "C3PO_MODEL" in msg


def test_app_does_not_import_torch(tiny_model):
    """The app is a printer-side edge: numpy only (torch is a training dependency)."""
    code = (
        "import sys\n"
        "from streamlit.testing.v1 import AppTest\n"
        f"at = AppTest.from_file({str(APP)!r}, default_timeout=90).run()\n"
        f"at.selectbox(key='sample').select({SAMPLE!r}).run()\n"
        "assert not at.exception and 'id=\"verdict\"' in ''.join(m.value for m in at.markdown)\n"
        "print('torch' in sys.modules)\n"
    )
    env = {**os.environ, "C3PO_MODEL": str(tiny_model)}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.strip().splitlines()[-1] == "False"


# ---- a real browser ------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def shipped():
    """The shipped model and sample pistol (a missing one fails: they belong in the repository)."""
    missing = [str(p.relative_to(ROOT)) for p in (DEFAULT_MODEL / "bundle.json", PISTOL) if not p.exists()]
    if missing:
        pytest.fail(f"missing {', '.join(missing)}: the shipped model and sample pistol must be in the repository")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no browser at {CHROMIUM}: apt-get install chromium (`make test` does)")


@pytest.fixture
def server(shipped, tmp_path):
    """``streamlit run`` on 127.0.0.1 with the shipped model; yields its URL."""
    port = _free_port()
    log = tmp_path / "streamlit.log"
    env = {**os.environ, "C3PO_MODEL": str(DEFAULT_MODEL)}
    cmd = [sys.executable, "-m", "streamlit", "run", str(APP), "--server.headless", "true", "--server.port", str(port),
           "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                pytest.fail(f"streamlit exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"streamlit did not answer within 30 s:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        print(f"--- streamlit log tail ({log}) ---\n{log.read_text()[-3000:]}")  # shown when the test fails


def test_browser_upload_of_the_sample_pistol_is_flagged(server, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="the dev extra (playwright) is not installed")

    shot = tmp_path / "app.png"
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, timeout=30_000)
        page = browser.new_page(viewport={"width": 1400, "height": 1500})
        page.set_default_timeout(30_000)
        try:
            page.goto(server, wait_until="domcontentloaded")
            page.locator("input[type=file]").set_input_files(str(PISTOL))
            banner = page.locator("#verdict")
            sync_api.expect(banner).to_contain_text("WEAPON", timeout=60_000)
            sync_api.expect(banner).to_contain_text(PISTOL.name)
            sync_api.expect(page.get_by_text("Streaming score")).to_be_visible()
            sync_api.expect(page.get_by_text("Test ROC AUC:")).to_be_visible()  # the shipped bundle's metrics
            assert page.locator("[data-testid=stException]").count() == 0
            page.wait_for_timeout(500)  # let the last images paint
            page.screenshot(path=str(shot), full_page=True)
        except (AssertionError, sync_api.Error) as exc:
            page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
            text = page.locator("body").inner_text(timeout=5_000)[-2000:]
            pytest.fail(f"{exc}\n--- page text ---\n{text}\n(screenshot {tmp_path / 'failure.png'})")
        finally:
            browser.close()
    print(f"screenshot: {shot}")
    assert shot.stat().st_size > 10_000

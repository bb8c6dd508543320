"""c3po demo: is this 3D print a gun? Upload G-code or a mesh and see the verdict and why.

    streamlit run app/streamlit_app.py

One page over the public API. :class:`c3po.detect.Detector` judges the file, the same
way ``c3po scan`` does; :mod:`c3po.render` draws the three projections the model looks at
and the virtual-camera frame of the print after any layer; the streaming looks show when
a live print would have been stopped. A mesh is sliced with the built-in slicer first.

``C3PO_MODEL`` names a bundle directory other than ``models/default``. Uploads are
limited to :data:`MAX_UPLOAD_MB` (``.streamlit/config.toml`` sets the same limit for the
browser); a file that cannot be read gets its error message on the page.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np
import streamlit as st
from matplotlib.figure import Figure

from c3po import render
from c3po.detect import DEFAULT_BUNDLE, Detector, Verdict
from c3po.errors import C3POError, ModelError
from c3po.gcode import parse_gcode

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "data" / "samples"
MAX_UPLOAD_MB = 50
GCODE_SUFFIXES = (".gcode", ".gco", ".g", ".gcode.gz", ".gz")
MESH_SUFFIXES = (".stl", ".obj", ".3mf", ".ply")
UPLOAD_TYPES = sorted({s.rsplit(".", 1)[-1] for s in GCODE_SUFFIXES + MESH_SUFFIXES})
VIEW_SIZE = 256  # px, projections and camera frames as shown (the model's own input is smaller)
FRAMES_BUDGET = 96 * 2**20  # bytes of cached camera frames per file; big prints get smaller frames
WEAPON_RED, CLEAR_GREEN, NEUTRAL = "#c62828", "#2e7d32", "#607d8b"


# ---- plain functions (no page output) ---------------------------------------------------


def model_dir() -> Path:
    """The bundle directory: ``$C3PO_MODEL`` or ``models/default``."""
    return Path(os.environ.get("C3PO_MODEL") or DEFAULT_BUNDLE)


def model_key(path: Path) -> str:
    """Cache key of a bundle: its path and when its bundle.json last changed."""
    meta = path / "bundle.json"
    return f"{path}@{meta.stat().st_mtime_ns if meta.is_file() else 0}"


def check_size(name: str, size: int) -> None:
    """Raise C3POError for a file over the upload limit (the uploader itself checks the types)."""
    if size > MAX_UPLOAD_MB * 2**20:
        raise C3POError(f"{name}: {size / 2**20:.1f} MB is over the {MAX_UPLOAD_MB} MB upload limit; "
                        f"scan big files with `c3po scan FILE` instead")


def gcode_of(name: str, data: bytes) -> bytes:
    """G-code bytes (gzip kept as is) of an uploaded file; a mesh is sliced with the built-in slicer."""
    suffix = next((s for s in MESH_SUFFIXES if name.lower().endswith(s)), None)
    if suffix is None:
        return data
    try:
        from c3po.slicer import slice_mesh
    except ImportError as exc:  # trimesh and shapely come with the train extra
        raise C3POError(f"{name}: slicing meshes needs the mesh libraries ({exc.name}); "
                        f"pip install 'c3po[train]' or upload G-code") from exc
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"upload{suffix}"
        path.write_bytes(data)
        try:
            return slice_mesh(path)
        except C3POError as exc:  # say the user's file name, not the temporary copy's
            raise type(exc)(str(exc).replace(str(path), name)) from exc
        except ImportError as exc:
            raise C3POError(f"{name}: slicing meshes needs {exc.name}; pip install 'c3po[train]'") from exc


def model_metrics(det: Detector) -> dict[str, float]:
    """The bundle's test metrics of its projection model (empty when it has none)."""
    metrics = det.bundle.get("models", {}).get("projection", {}).get("metrics") or det.bundle.get("metrics") or {}
    names = {"accuracy": "accuracy", "weapon_recall": "weapon recall",
             "false_positive_rate": "false-positive rate", "roc_auc": "ROC AUC"}
    return {name: float(metrics[k]) for k, name in names.items() if isinstance(metrics.get(k), (int, float))}


@st.cache_resource(show_spinner=False, max_entries=2)
def load_detector(key: str) -> Detector:
    """The detector of bundle ``key`` (see :func:`model_key`)."""
    return Detector.from_bundle(key.rsplit("@", 1)[0]).warm_up()


@st.cache_data(show_spinner=False, max_entries=8)
def analyse(digest: str, name: str, model: str, _data: bytes) -> dict:  # model: a model_key
    """Verdict and views of one file (``digest`` of ``_data`` is the cache key)."""
    gcode = gcode_of(name, _data)
    det = load_detector(model)
    verdict = det.scan(gcode, name=name)
    tp = parse_gcode(gcode, name=name).object_moves()  # what the detector judges
    lo, hi = tp.bbox()
    views = render.project(tp, VIEW_SIZE, canonical=det.render.get("canonical", False))  # turned as the model sees it
    return {"verdict": verdict, "gcode": gcode, "projections": views,
            "layer_z": np.asarray(tp.layer_z), "size_mm": (hi - lo).round(1).tolist(), "lines": tp.lines}


@st.cache_data(show_spinner=False, max_entries=4)
def frames(digest: str, _gcode: bytes) -> np.ndarray:
    """(L, S, S) uint8 virtual-camera frames after each layer."""
    tp = parse_gcode(_gcode)
    size = int(min(VIEW_SIZE, max(64, np.sqrt(FRAMES_BUDGET / max(tp.n_layers, 1)))))
    return render.camera_frames(tp, size)


# ---- figures ---------------------------------------------------------------------------


def probs_figure(probs: dict[str, float], weapons: set[str]) -> Figure:
    names = sorted(probs, key=probs.get)
    vals = [probs[n] for n in names]
    fig = Figure(figsize=(4.2, 0.3 * len(names) + 0.8), dpi=120)
    ax = fig.subplots()
    ax.barh([_label(n) for n in names], vals, color=[WEAPON_RED if n in weapons else NEUTRAL for n in names])
    for i, v in enumerate(vals):
        inside = v > 0.75
        ax.text(v - 0.01 if inside else v + 0.01, i, f"{v:.1%}", va="center", ha="right" if inside else "left",
                fontsize=8, color="white" if inside else "black")
    ax.set_xlim(0, 1)
    ax.set_xlabel("probability (red: weapon classes)")
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return fig


def curve_figure(v: Verdict, policy: dict, layer: int) -> Figure:
    """The weapon score at each look, the policy's stopping rules and where it stopped."""
    fig = Figure(figsize=(6.4, 3.4), dpi=110)
    ax = fig.subplots()
    x = [c["layer"] for c in v.curve]
    ax.plot(x, [c["score"] for c in v.curve], "o", ms=3.5, color=NEUTRAL, alpha=0.7, label="score at each look")
    if policy["ema"] < 1:
        ax.plot(x, [c["smoothed"] for c in v.curve], "-", lw=2, color="#1565c0", label="smoothed score")
    for rule in policy["rules"]:
        ax.axhline(rule["threshold"], ls="--", lw=1, color="black",
                   label=f"stop: {rule['threshold']:.2f} for {rule['hold']} looks")
    if v.flag_layer is not None:
        ax.axvline(v.flag_layer, color=WEAPON_RED, lw=2.5, label=f"print stopped: layer {v.flag_layer}")
        ax.axvspan(v.flag_layer, v.layers, color=WEAPON_RED, alpha=0.08)
    ax.axvline(layer, color="#9e9e9e", lw=1, ls=":", label=f"camera: layer {layer}")
    ax.set_xlim(0, max(v.layers, 1))
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("layers printed")
    ax.set_ylabel("weapon score")
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False, ncol=3)
    fig.tight_layout()
    return fig


# ---- page ------------------------------------------------------------------------------


def pick_file() -> tuple[str, bytes] | None:
    """(name, bytes) from the uploader or the sample list; the upload wins."""
    samples = sorted(p.name for p in SAMPLES.glob("*") if p.name.lower().endswith(GCODE_SUFFIXES + MESH_SUFFIXES))
    left, right = st.columns([3, 2])
    upload = left.file_uploader(
        f"Upload G-code (.gcode, .gcode.gz) or a mesh (.stl, .obj, .3mf), up to {MAX_UPLOAD_MB} MB",
        type=UPLOAD_TYPES, key="upload")
    sample = right.selectbox("... or pick a shipped sample", samples, index=None, key="sample",
                             placeholder="choose a sample", disabled=upload is not None)
    if upload is not None:
        check_size(upload.name, upload.size)
        return upload.name, upload.getvalue()
    if sample is not None:
        return sample, (SAMPLES / sample).read_bytes()
    return None


def banner(v: Verdict) -> None:
    weapon = v.verdict == "weapon"
    if weapon:
        detail = (f"A live print would be stopped at layer {v.flag_layer} of {v.layers} "
                  f"({v.flag_fraction:.0%} printed).")
    else:
        detail = f"The streaming detector let all {v.layers} layers print."
    st.markdown(
        f'<div id="verdict" style="background:{WEAPON_RED if weapon else CLEAR_GREEN};color:white;'
        f'border-radius:0.6rem;padding:0.9rem 1.3rem;margin:0.2rem 0 0.8rem 0">'
        f'<div style="font-size:2rem;font-weight:700;letter-spacing:0.02em">'
        f'{"WEAPON" if weapon else "CLEAR"} &nbsp;·&nbsp; weapon score {v.score:.2f}</div>'
        f'<div style="font-size:1.05rem">{_esc(v.file)}: most likely <b>{_label(v.label)}</b>. '
        f"{detail}</div></div>",
        unsafe_allow_html=True,
    )


def _label(name: str) -> str:
    return name.replace("_", " ")


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def show(result: dict, det: Detector, digest: str) -> None:
    v: Verdict = result["verdict"]
    banner(v)
    c = st.columns(5)
    c[0].metric("Weapon score", f"{v.score:.2f}")
    c[1].metric("Most likely", _label(v.label))
    c[2].metric("Stopped at layer", "not stopped" if v.flag_layer is None else f"{v.flag_layer} of {v.layers}")
    c[3].metric("Objects on plate", len(v.objects))
    c[4].metric("Scan time", f"{v.ms:,.0f} ms")

    left, right = st.columns([3, 2], gap="large")
    with left:
        st.subheader("What the model sees")
        views = st.columns(3)
        for col, img, title in zip(views, result["projections"], ("top (XY)", "front (XZ)", "side (YZ)")):
            col.image(img, caption=title, width="stretch")
        size = " × ".join(f"{s:.0f}" for s in result["size_mm"])
        turned = " (turned about Z so the footprint's long axis is horizontal)" if det.render.get("canonical") else ""
        st.caption(f"Extruding moves projected onto three planes{turned}: {size} mm, {v.layers} layers, "
                   f"{result['lines']:,} G-code lines.")
    with right:
        st.subheader("Class probabilities")
        st.pyplot(probs_figure(v.probs, set(det.bundle.get("weapon_classes", []))))

    cam = frames(digest, result["gcode"])
    n = len(cam)
    left, right = st.columns([2, 3], gap="large")
    with left:
        st.subheader("Virtual camera")
        layer = n
        if n > 1:
            default = v.flag_layer if v.flag_layer is not None else n
            layer = st.slider("Layer", 1, n, min(default, n), key=f"layer-{digest[:16]}",
                              help="The print as a camera beside the bed would see it after this layer.")
        if n:
            z = result["layer_z"][layer - 1]
            stop = " - the print is stopped here" if layer == v.flag_layer else ""
            st.image(cam[layer - 1], caption=f"after layer {layer} of {n} (z = {z:.2f} mm){stop}", width="stretch")
    with right:
        st.subheader("Streaming score")
        st.pyplot(curve_figure(v, det.policy, layer))
        st.caption("The detector looks at the print so far every few layers; the print is stopped once the "
                   + ("smoothed " if det.policy["ema"] < 1 else "")
                   + "score holds at or above a rule's threshold for its number of looks in a row. "
                   f"A finished print scoring {det.threshold:.2f} or more is flagged too.")
    if len(v.objects) > 1:
        st.subheader(f"Objects on the plate ({len(v.objects)})")
        st.dataframe([{"object": i + 1, **o} for i, o in enumerate(v.objects)], hide_index=True)


def main() -> None:
    st.set_page_config(page_title="c3po: is this print a gun?", layout="wide")
    st.title("c3po: is this print a gun?")
    st.caption("The printer-side detector reads the G-code a slicer writes, renders it the way the model "
               "was trained and judges it layer by layer, the way a live print would be stopped.")
    model = model_dir()
    try:
        det = load_detector(model_key(model))
    except ModelError as exc:
        st.error(f"No usable model bundle: {exc}\n\nThe trained model ships in the repository as "
                 f"`models/default/` (restore it with `git checkout -- models/default`), or train one "
                 f"(`c3po train --data DATASET --out RUN`) and start the app with `C3PO_MODEL=RUN/bundle`.")
        return
    with st.sidebar:
        st.header("Model")
        st.write(f"`{model}`")
        st.write(f"Classes: {', '.join(det.classes)}")
        st.write(f"Weapon classes: {', '.join(det.bundle.get('weapon_classes', []))}")
        st.write(f"Threshold: {det.threshold:.2f}")
        for key, value in model_metrics(det).items():
            st.write(f"Test {key}: {value:.3g}")

    try:
        picked = pick_file()
        if picked is None:
            st.info("Upload a file or pick a sample to see whether it is a weapon.")
            return
        name, data = picked
        digest = hashlib.sha256(data).hexdigest()
        with st.spinner(f"Scanning {name} ..."):
            result = analyse(digest, name, model_key(model), data)
        show(result, det, digest)
    except C3POError as exc:
        st.error(f"Cannot scan this file. {exc}")
    except Exception as exc:  # the page must say what failed, never show a traceback
        st.error(f"Cannot scan this file: unexpected {type(exc).__name__}: {exc}. "
                 f"Check that it is a complete G-code or mesh file; if it is, please report this.")


if __name__ == "__main__":
    main()

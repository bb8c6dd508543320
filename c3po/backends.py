"""Real slicers as backends: PrusaSlicer and CuraEngine command lines.

Each backend writes the mesh to a temporary STL, runs the slicer with settings mapped
from :class:`c3po.slicer.SliceConfig` (no skirt or brim unless asked, object centred on
the bed) and returns the G-code bytes. A missing binary is a :class:`SlicerError` naming
the Debian package to install.

CuraEngine needs printer definitions (``fdmprinter.def.json``) that it does not ship;
they come from Debian's ``cura`` package. ``.ci/cura-defs.sh`` unpacks them to
``/opt/c3po/cura`` (or ``$C3PO_CURA_DEFS``), which is where this module looks.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from c3po.errors import SlicerError

PRUSA_BINS = ("prusa-slicer", "PrusaSlicer", "prusa-slicer-console")
CURA_BINS = ("CuraEngine",)
CURA_DEFS_DEFAULT = "/opt/c3po/cura"
TIMEOUT_S = 600


def find_binary(backend: str) -> str:
    """Path of the backend's executable; SlicerError naming the package if absent."""
    names, pkg = (PRUSA_BINS, "prusa-slicer") if backend == "prusa" else (CURA_BINS, "cura-engine")
    for n in names:
        path = shutil.which(n)
        if path:
            return path
    raise SlicerError(f"slicer {backend!r} not found (looked for {', '.join(names)} on PATH); "
                      f"install it with `apt-get install {pkg}`, or use --slicer builtin")


def cura_definitions() -> Path:
    """Folder holding ``definitions/fdmprinter.def.json`` and ``extruders/``."""
    root = Path(os.environ.get("C3PO_CURA_DEFS", CURA_DEFS_DEFAULT))
    if not (root / "definitions" / "fdmprinter.def.json").is_file():
        raise SlicerError(f"CuraEngine printer definitions not found in {root}; run .ci/cura-defs.sh "
                          f"(unpacks them from Debian's `cura` package) or point C3PO_CURA_DEFS at a folder "
                          f"with definitions/fdmprinter.def.json and extruders/")
    return root


def available(backend: str) -> bool:
    """Whether ``backend`` can run here (binary, and for cura its definitions)."""
    try:
        find_binary(backend)
        if backend == "cura":
            cura_definitions()
    except SlicerError:
        return False
    return True


def run(backend: str, mesh, cfg) -> bytes:
    """Slice ``mesh`` (trimesh.Trimesh) with ``backend`` ('prusa' or 'cura') and ``cfg``."""
    exe = find_binary(backend)
    with tempfile.TemporaryDirectory(prefix="c3po-slice-") as tmp:
        stl, out = Path(tmp) / "in.stl", Path(tmp) / "out.gcode"
        mesh.export(stl)
        env = None
        if backend == "prusa":
            cmd = [exe, "--export-gcode", *_prusa_args(cfg), "--output", str(out), str(stl)]
        else:
            defs = cura_definitions()
            env = {**os.environ, "CURA_ENGINE_SEARCH_PATH": f"{defs / 'definitions'}:{defs / 'extruders'}"}
            cmd = [exe, "slice", "-j", str(defs / "definitions" / "fdmprinter.def.json"), *_cura_args(cfg),
                   "-l", str(stl), "-o", str(out)]
        try:
            proc = subprocess.run(cmd, capture_output=True, timeout=TIMEOUT_S, env=env, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise SlicerError(f"{backend} did not finish slicing within {TIMEOUT_S} s; simplify the mesh") from None
        if proc.returncode != 0 or not out.is_file() or out.stat().st_size == 0:
            msg = (proc.stderr or proc.stdout).decode(errors="replace").strip().splitlines()[-3:]
            raise SlicerError(f"{backend} failed (exit {proc.returncode}): {' | '.join(msg)[-500:]}")
        return out.read_bytes()


def _prusa_args(cfg) -> list[str]:
    bx, by = cfg.bed[0], cfg.bed[1]
    args = ["--layer-height", f"{cfg.layer_height}", "--first-layer-height", f"{cfg.first_layer_height}",
            "--extrusion-width", f"{cfg.extrusion_width}", "--perimeters", str(cfg.perimeters),
            "--top-solid-layers", str(cfg.solid_layers), "--bottom-solid-layers", str(cfg.solid_layers),
            "--fill-density", f"{cfg.infill_density * 100:.0f}%", "--fill-angle", f"{cfg.infill_angle:.0f}",
            "--skirts", str(cfg.skirts), "--skirt-distance", f"{cfg.skirt_distance}",
            "--filament-diameter", f"{cfg.filament_diameter}", "--bed-shape", f"0x0,{bx:g}x0,{bx:g}x{by:g},0x{by:g}",
            "--max-print-height", f"{cfg.bed[2]:g}", "--center", f"{bx / 2:g},{by / 2:g}",
            "--retract-length", f"{cfg.retract_length}", "--temperature", str(cfg.nozzle_temp),
            "--bed-temperature", str(cfg.bed_temp), "--gcode-flavor", "marlin2"]
    if cfg.relative_e:
        args += ["--use-relative-e-distances", "--before-layer-gcode", "G92 E0"]
    if cfg.supports:
        args += ["--support-material", "--support-material-auto"]
    if cfg.brim_width:
        args += ["--brim-width", f"{cfg.brim_width}"]
    if cfg.raft_layers:
        args += ["--raft-layers", str(cfg.raft_layers)]
    if cfg.z_hop:
        args += ["--retract-lift", f"{cfg.z_hop}"]
    if cfg.firmware_retract:
        args += ["--use-firmware-retraction"]
    if cfg.infill_pattern:
        args += ["--fill-pattern", cfg.infill_pattern]
    if cfg.fuzzy_skin:
        args += ["--fuzzy-skin", "external"]
    if cfg.ironing:
        args += ["--ironing"]
    if cfg.vase:  # PrusaSlicer refuses a spiral with more than one wall, infill or a top
        args += ["--spiral-vase", "--perimeters", "1", "--top-solid-layers", "0", "--fill-density", "0%"]
    return args


def _cura_args(cfg) -> list[str]:
    s = {"machine_width": cfg.bed[0], "machine_depth": cfg.bed[1], "machine_height": cfg.bed[2],
         "center_object": "true", "machine_heated_bed": "true", "layer_height": cfg.layer_height,
         "layer_height_0": cfg.first_layer_height, "line_width": cfg.extrusion_width, "wall_line_count": cfg.perimeters,
         "top_layers": cfg.solid_layers, "bottom_layers": cfg.solid_layers,
         "infill_sparse_density": round(cfg.infill_density * 100, 3), "material_diameter": cfg.filament_diameter,
         "retraction_amount": cfg.retract_length, "material_print_temperature": cfg.nozzle_temp,
         "material_bed_temperature": cfg.bed_temp, "relative_extrusion": str(cfg.relative_e).lower(),
         "adhesion_type": ("raft" if cfg.raft_layers else "brim" if cfg.brim_width else "skirt" if cfg.skirts
                           else "none"), "skirt_line_count": max(cfg.skirts, 1),
         "skirt_gap": cfg.skirt_distance, "machine_gcode_flavor": "RepRap (Marlin/Sprinter)"}
    ext = {"material_diameter": cfg.filament_diameter, "machine_nozzle_size": min(cfg.extrusion_width, 0.4)}
    if cfg.brim_width:
        s["brim_width"] = cfg.brim_width
    if cfg.supports:
        s["support_enable"] = ext["support_enable"] = "true"
    if cfg.tree_supports:
        s["support_structure"] = ext["support_structure"] = "tree"
    if cfg.vase:
        s["magic_spiralize"] = "true"
    if cfg.firmware_retract:
        s["machine_firmware_retract"] = "true"
    tuned = {"retraction_hop_enabled": "true", "retraction_hop": cfg.z_hop} if cfg.z_hop else {}
    if cfg.infill_pattern:
        tuned["infill_pattern"] = cfg.infill_pattern
    if cfg.fuzzy_skin:
        tuned["magic_fuzzy_skin_enabled"] = "true"
    if cfg.ironing:
        tuned["ironing_enabled"] = "true"
    s.update(tuned)
    ext.update(tuned)
    args = [a for k, v in s.items() for a in ("-s", f"{k}={v}")]
    # Extruder-train settings are not inherited from -s globals: repeat them for extruder 0.
    return args + ["-e0"] + [a for k, v in ext.items() for a in ("-s", f"{k}={v}")]

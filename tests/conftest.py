from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_GCODE = ROOT.parent / "shared" / "gcode"
REAL_FILES = sorted(SHARED_GCODE.glob("*.gcode.gz"))
SMALL_REAL_FILES = [f for f in REAL_FILES if "1m" not in f.name]


@pytest.fixture(scope="session")
def real_files():
    if not REAL_FILES:
        pytest.fail(f"no real slicer output under {SHARED_GCODE}")
    return REAL_FILES

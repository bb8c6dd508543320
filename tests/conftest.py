from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_GCODE = ROOT.parent / "shared" / "gcode"
REAL_FILES = sorted(SHARED_GCODE.glob("*.gcode.gz"))
SMALL_REAL_FILES = [f for f in REAL_FILES if "1m" not in f.name]


def real_file(name: str) -> Path:
    """``../shared/gcode/NAME.gcode.gz``, or a test failure that says where it was looked for."""
    path = SHARED_GCODE / f"{name}.gcode.gz"
    if not path.is_file():
        pytest.fail(f"missing {path}: the tests read real slicer output from ../shared/gcode beside the repository")
    return path


@pytest.fixture(scope="session")
def real_files():
    if not REAL_FILES:
        pytest.fail(f"no real slicer output under {SHARED_GCODE}")
    return REAL_FILES

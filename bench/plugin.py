"""OctoPrint plugin cost: the queuing hook per line, and Virtual Printer throughput with and without it.

    python bench/plugin.py [--file F] [--repeat N] [--model DIR]

Two measurements, both against OctoPrint 1.11 in its own venv (``tests/octoprint_server``):

* hook: the plugin's ``octoprint.comm.protocol.gcode.queuing`` hook called for every line
  OctoPrint would send from ``--file`` (comments stripped, ``filepos`` tags as OctoPrint
  makes them), with the job's worker thread streaming the file through the detector at
  the same time; median and p99 microseconds per call (target: median <= 20 us);
* throughput: two real servers, one without the plugin and one with it (upload policy
  off, so only streaming counts), print the same clear file on the Virtual Printer in
  turns, alternating who goes first; lines per second of the median print of each and
  the ratio (target >= 0.95). On a loaded machine the spread between runs is larger
  than the plugin's cost: read ``seconds`` before the ratio.

Writes bench/results/plugin.json.
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT.parent / "shared" / "gcode" / "cylinder_prusa.gcode.gz"


def hook_cost(path: str, model: str | None) -> dict:
    """Runs inside OctoPrint's venv: time the hook over every line of ``path``."""
    import logging
    import time

    from c3po.octoprint import DEFAULTS, C3POPlugin

    class Settings:
        def __init__(self, values):
            self.values = values

        def get(self, key):
            return self.values[key[0]]

    class Stub:  # printer, plugin manager: every call is a no-op
        def __getattr__(self, name):
            return lambda *a, **k: False

    class Current:
        def getFilename(self):
            return path

    class Comm:
        _currentFile = Current()

    plugin = C3POPlugin()
    plugin._logger = logging.getLogger("bench")
    plugin._identifier = "c3po"
    plugin._settings = Settings({**DEFAULTS, "upload_policy": "off", "model_path": model or ""})
    plugin._printer = plugin._plugin_manager = Stub()
    plugin.initialize()
    assert plugin._detector is not None, plugin._model_error

    # what OctoPrint hands the hook: stripped lines, the byte position after each line
    calls, pos = [], 0
    with open(path, "rb") as f:
        for n, raw in enumerate(f, 1):
            pos += len(raw)
            line = raw.split(b";", 1)[0].strip().decode()
            if line:
                calls.append((line, line.split(" ", 1)[0], {"source:file", f"filepos:{pos}", f"fileline:{n}"}))
    comm, hook, clock = Comm(), plugin.on_queuing, time.perf_counter_ns
    times = []
    t_all = time.perf_counter()
    for cmd, gcode, tags in calls:
        t = clock()
        hook(comm, "queuing", cmd, None, gcode, tags=tags)
        times.append(clock() - t)
    wall = time.perf_counter() - t_all
    job = plugin._job
    job.finish(pos)
    job.done.wait(120)

    # never into the send loop: a broken comm, odd tags
    class Broken:
        @property
        def _currentFile(self):
            raise RuntimeError("boom")

    plugin._job = None
    safe = hook(Broken(), "queuing", "G1 X1", None, "G1", tags={"source:file", "filepos:x"}) is None
    safe &= hook(comm, "queuing", "M105", None, "M105", tags=None) is None

    times.sort()
    return {
        "lines": len(calls),
        "median_us": round(times[len(times) // 2] / 1e3, 3),
        "p99_us": round(times[int(len(times) * 0.99)] / 1e3, 3),
        "mean_us": round(sum(times) / len(times) / 1e3, 3),
        "loop_lines_per_s": round(len(calls) / wall),
        "worker_flagged": job.flag is not None,
        "exception_safe": bool(safe),
    }


def throughput(data: bytes, lines: int, repeat: int, model: str | None) -> dict:
    """Print ``data`` on two servers (plugin absent / present) in turns; lines per second."""
    sys.path.insert(0, str(ROOT))
    from tests.octoprint_server import OctoPrintServer

    settings = {"upload_policy": "off", "model_path": model or ""}
    with tempfile.TemporaryDirectory() as tmp:
        without = OctoPrintServer(Path(tmp) / "without", settings, disable=("c3po",))
        with_ = OctoPrintServer(Path(tmp) / "with", settings)
        runs: dict[str, list[float]] = {"without": [], "with": []}
        try:
            without.start()
            with_.start()
            for srv in (without, with_):
                srv.connect()
                assert (srv.get("/api/plugin/c3po")[0] == 200) == (srv is with_)
            for srv in (without, with_):  # untimed: first-print costs (compilation, caches) are not throughput
                _print_time(srv, "warmup.gcode", data)
            pair = [("without", without), ("with", with_)]
            for k in range(repeat):  # alternate who goes first: load from other processes drifts
                for name, srv in pair if k % 2 == 0 else pair[::-1]:
                    runs[name].append(_print_time(srv, f"bench{k}.gcode", data))
            events = [e for e in with_.c3po()["events"] if e["kind"] != "info"]
        finally:
            without.stop()
            with_.stop()
    med = {k: statistics.median(v) for k, v in runs.items()}
    return {
        "lines": lines,
        "seconds": {k: [round(t, 2) for t in v] for k, v in runs.items()},
        "lines_per_s_without": round(lines / med["without"]),
        "lines_per_s_with": round(lines / med["with"]),
        "ratio": round(med["without"] / med["with"], 4),
        "plugin_events": events,
    }


def _print_time(srv, name: str, data: bytes) -> float:
    status, body = srv.upload(name, data)
    assert status == 201, body
    t0 = time.perf_counter()
    status, body = srv.post(f"/api/files/local/{name}", {"command": "select", "print": True})
    assert status == 204, body
    srv.wait(lambda: srv.job()["state"] != "Operational", 10, "the print to start", interval=0.02)
    srv.wait(lambda: srv.job()["state"] == "Operational", 600, "the print to end", interval=0.02)
    assert srv.job()["progress"]["completion"] == 100, srv.job()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--file", type=Path, default=DEFAULT, help="a clear print (.gcode or .gcode.gz)")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--model", default=None, help="bundle directory (default: models/default)")
    ap.add_argument("--hook-only", metavar="GCODE", help=argparse.SUPPRESS)  # run inside OctoPrint's venv
    args = ap.parse_args()
    if args.hook_only:
        print(json.dumps(hook_cost(args.hook_only, args.model)))
        return

    sys.path.insert(0, str(ROOT))
    from tests.octoprint_server import ensure_venv

    sys.path.insert(0, str(ROOT / "tests"))
    from test_octoprint import fast

    bin_ = ensure_venv()
    raw = args.file.read_bytes()
    data = fast(gzip.decompress(raw) if args.file.suffix == ".gz" else raw)
    lines = sum(1 for ln in data.splitlines() if ln.split(b";", 1)[0].strip())
    with tempfile.NamedTemporaryFile(suffix=".gcode") as f:
        f.write(data)
        f.flush()
        cmd = [str(bin_ / "python"), str(Path(__file__).resolve()), "--hook-only", f.name]
        if args.model:
            cmd += ["--model", args.model]
        hook = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=600, cwd="/").stdout)
    tp = throughput(data, lines, args.repeat, args.model)
    result = {
        "file": args.file.name,
        "model": args.model or "models/default",
        "hook": hook,
        "throughput": tp,
        "targets": {"hook_median_us": 20, "throughput_ratio": 0.95},
        "met": {"hook": hook["median_us"] <= 20, "throughput": tp["ratio"] >= 0.95},
    }
    out = ROOT / "bench" / "results" / "plugin.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"queuing hook: median {hook['median_us']} us, p99 {hook['p99_us']} us per line "
          f"({hook['lines']} lines; target <= 20 us)")
    print(f"Virtual Printer: {tp['lines_per_s_without']} lines/s without the plugin, {tp['lines_per_s_with']} "
          f"with it: ratio {tp['ratio']:.3f} (target >= 0.95)")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()

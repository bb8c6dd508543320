"""A real OctoPrint 1.11 server with the Virtual Printer and the c3po plugin.

Used by ``tests/test_octoprint.py`` and ``bench/plugin.py``. OctoPrint pins its own
flask/werkzeug/click, so it lives in a venv of its own (``.venv-octoprint`` in the repo,
or ``$C3PO_OCTOPRINT_VENV``), created on first use with ``pip install "octoprint<1.12"``
and the project installed editable with the ``octoprint`` extra (never torch), and
reused while ``pyproject.toml`` is unchanged. Everything else (basedir, config, user,
API key, port) is throwaway. Every wait has a timeout.
"""

from __future__ import annotations

import fcntl
import hashlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = Path(os.environ.get("C3PO_OCTOPRINT_VENV", ROOT / ".venv-octoprint"))
OCTOPRINT = "octoprint>=1.11,<1.12"
API_KEY = "C3POTESTKEY0123456789ABCDEF012345"
DISABLED_PLUGINS = [
    "tracking", "discovery", "softwareupdate", "pluginmanager", "announcements", "errortracking",
    "backup", "achievements", "firmware_check", "file_check", "pi_support", "health_check",
]
CHECK_INSTALL = """
import importlib.metadata as md, sys
eps = [e for e in md.entry_points(group="octoprint.plugin") if e.name == "c3po"]
if not eps or eps[0].value != "c3po.octoprint":
    sys.exit("pyproject.toml lacks [project.entry-points.\\"octoprint.plugin\\"] c3po = \\"c3po.octoprint\\"")
import c3po.detect, c3po.octoprint.guard
if "torch" in sys.modules:
    sys.exit("the printer side imported torch")
"""


class ServerError(RuntimeError):
    pass


def ensure_venv(timeout: float = 900) -> Path:
    """OctoPrint's own venv with the project installed; created once, reused. Returns its bin/."""
    key = hashlib.md5((ROOT / "pyproject.toml").read_bytes() + OCTOPRINT.encode()).hexdigest()[:8]
    stamp = VENV / f".installed-{key}"
    bin_ = VENV / "bin"
    if stamp.exists():
        return bin_
    VENV.parent.mkdir(parents=True, exist_ok=True)
    with open(str(VENV) + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two pytest runs must not install at once
        if stamp.exists():
            return bin_
        if not (bin_ / "python").exists():
            _run([sys.executable, "-m", "venv", str(VENV)], timeout)
        pip = [str(bin_ / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        _run(pip + [OCTOPRINT], timeout)
        _run(pip + ["-e", f"{ROOT}[octoprint]"], timeout)
        _run([str(bin_ / "python"), "-c", CHECK_INSTALL], 120)
        for old in VENV.glob(".installed-*"):
            old.unlink()
        stamp.touch()
    return bin_


def _run(cmd: list[str], timeout: float) -> None:
    # cwd: not the repo, whose c3po.egg-info would shadow the venv's metadata for `python -c`
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd="/")
    if r.returncode:
        raise ServerError(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(basedir: Path, plugin_settings: dict | None = None, disable: tuple[str, ...] = ()) -> None:
    """config.yaml: Virtual Printer on, wizards/online checks/tracking/discovery/updates off.

    JSON is YAML, so no YAML library is needed on this side."""
    config = {
        "server": {
            "firstRun": False,
            "onlineCheck": {"enabled": False},
            "pluginBlacklist": {"enabled": False},
        },
        "gcodeAnalysis": {"runAt": "never"},
        "serial": {"autoconnect": False, "port": "VIRTUAL", "baudrate": 115200, "log": True},
        "plugins": {
            "_disabled": DISABLED_PLUGINS + list(disable),
            "tracking": {"enabled": False},
            "virtual_printer": {"enabled": True, "sendWait": False, "simulateReset": False, "simulated_errors": []},
            "c3po": plugin_settings or {},
        },
    }
    (basedir / "config.yaml").write_text(json.dumps(config, indent=1))


class OctoPrintServer:
    """``octoprint serve`` on 127.0.0.1:port with a throwaway basedir; an admin with a known API key."""

    def __init__(self, basedir: Path, plugin_settings: dict | None = None, bin_: Path | None = None,
                 disable: tuple[str, ...] = ()):
        self.basedir = Path(basedir)
        self.disable = disable  # more plugins to switch off ("c3po": a server without the plugin)
        self.bin = bin_ or ensure_venv()
        self.plugin_settings = plugin_settings
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.log = self.basedir / "serve.log"

    # ---- process ----------------------------------------------------------------------

    def start(self, timeout: float = 90) -> "OctoPrintServer":
        self.basedir.mkdir(parents=True, exist_ok=True)
        write_config(self.basedir, self.plugin_settings, self.disable)
        octoprint = str(self.bin / "octoprint")
        _run([octoprint, "--basedir", str(self.basedir), "user", "add", "admin", "--password", uuid.uuid4().hex, "--admin"], 120)
        users = self.basedir / "users.yaml"
        text = users.read_text()
        if "apikey: null" not in text:
            raise ServerError(f"unexpected users.yaml layout:\n{text}")
        users.write_text(text.replace("apikey: null", f"apikey: {API_KEY}", 1))
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("PYTHONPATH", None)
        cmd = [octoprint, "serve", "--iknowwhatimdoing", "--host", "127.0.0.1", "--port", str(self.port),
               "--basedir", str(self.basedir)]
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.basedir,
                                         start_new_session=True)
        try:
            self._wait_started(timeout)
        except BaseException:
            self.stop()  # never leave a server behind
            raise
        return self

    def _wait_started(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerError(f"octoprint serve exited with {self.proc.returncode}\n{self.log_tail()}")
            try:
                if self.get("/api/version", timeout=2)[0] == 200:
                    return
            except (OSError, http.client.HTTPException):
                pass  # not listening yet, or OctoPrint's intermediary start-up server
            time.sleep(0.25)
        raise ServerError(f"OctoPrint did not answer /api/version within {timeout} s\n{self.log_tail()}")

    def stop(self, timeout: float = 20) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def log_tail(self, lines: int = 60) -> str:
        f = self.basedir / "logs" / "octoprint.log"
        f = f if f.exists() else self.log  # serve.log: the console, where start-up failures go
        if not f.exists():
            return ""
        tail = f.read_text(errors="replace").splitlines()[-lines:]
        return f"---- {f} (last {len(tail)} lines)\n" + "\n".join(tail)

    # ---- REST -------------------------------------------------------------------------

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
                timeout: float = 30) -> tuple[int, object]:
        req = urllib.request.Request(self.url + path, data=body, method=method,
                                     headers={"X-Api-Key": API_KEY, **(headers or {})})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                status, raw = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode(errors="replace")

    def get(self, path: str, timeout: float = 30):
        return self.request("GET", path, timeout=timeout)

    def post(self, path: str, data: dict, timeout: float = 30):
        return self.request("POST", path, json.dumps(data).encode(), {"Content-Type": "application/json"}, timeout)

    def upload(self, name: str, data: bytes, location: str = "local", select: bool = False, print_: bool = False):
        boundary = uuid.uuid4().hex
        parts = [
            (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
             "Content-Type: application/octet-stream\r\n\r\n").encode() + data + b"\r\n",
        ]
        for k, v in (("select", select), ("print", print_)):
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{str(v).lower()}\r\n'.encode())
        body = b"".join(parts) + f"--{boundary}--\r\n".encode()
        return self.request("POST", f"/api/files/{location}", body,
                            {"Content-Type": f"multipart/form-data; boundary={boundary}"}, timeout=120)

    def settings(self, **c3po) -> None:
        status, body = self.post("/api/settings", {"plugins": {"c3po": c3po}})
        if status != 200:
            raise ServerError(f"settings update answered {status}: {body}")

    def state(self) -> str:
        return self.get("/api/connection")[1]["current"]["state"]

    def wait(self, cond, timeout: float, what: str, interval: float = 0.1):
        """Poll ``cond()`` until it returns something truthy; fail with the log tail after ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = cond()
            if value:
                return value
            time.sleep(interval)
        raise ServerError(f"timed out after {timeout} s waiting for {what} (state {self.state()!r})\n{self.log_tail()}")

    def connect(self, timeout: float = 30) -> None:
        status, body = self.post("/api/connection", {"command": "connect", "port": "VIRTUAL", "baudrate": 115200})
        if status != 204:
            raise ServerError(f"connect answered {status}: {body}")
        self.wait(lambda: self.state() == "Operational", timeout, "the Virtual Printer to be operational")

    def job(self) -> dict:
        return self.get("/api/job")[1]

    def c3po(self) -> dict:
        status, body = self.get("/api/plugin/c3po")
        if status != 200:
            raise ServerError(f"/api/plugin/c3po answered {status}: {body}")
        return body

"""OctoPrint plugin ``c3po``: refuse gun uploads, stop gun prints, say why. Glue only.

Judging lives in :mod:`c3po.detect`; following a job through its file in
:mod:`c3po.octoprint.guard`. What the plugin adds is policy:

* upload (``octoprint.filemanager.preprocessor``): scan the file; ``block`` refuses it
  (OctoPrint answers 415, nothing is stored), ``flag`` stores and marks it, ``off`` skips;
* print (``octoprint.comm.protocol.gcode.queuing``): the hook records how far the printer
  has read the file; a worker streams those bytes through the detector and on a flag
  cancels, pauses or warns (``action``), optionally switching the heaters off;
* bypasses: files copied in by other means are scanned when selected or started; SD-card
  prints skip the host, so they are refused or warned about (``sd_policy``); terminal
  commands are not judged unless ``watch_terminal``;
* no usable model: ``fail_policy`` ``refuse`` (default) refuses every print and says why,
  ``allow`` prints with a warning.

Every decision goes to the log, to the UI (a plugin message the bundled JS shows as a
notification) and to ``GET /api/plugin/c3po`` (recent events, model state).
"""

from __future__ import annotations

import collections
import os
import queue
import threading
import time

import octoprint.plugin
from octoprint.events import Events
from octoprint.filemanager import valid_file_type
from octoprint.filemanager.storage import StorageError
from octoprint.filemanager.util import AbstractFileWrapper

from c3po.errors import C3POError
from c3po.octoprint.guard import Flag, JobWatch, verdict_dict

CHOICES = {
    "action": ("cancel", "pause", "warn"),
    "upload_policy": ("block", "flag", "off"),
    "fail_policy": ("refuse", "allow"),
    "sd_policy": ("refuse", "warn"),
}
DEFAULTS = {
    "enabled": True,
    "threshold": None,  # None: the bundle's own threshold
    "action": "cancel",
    "heaters_off": True,
    "upload_policy": "block",
    "fail_policy": "refuse",
    "sd_policy": "refuse",
    "watch_terminal": False,
    "model_path": "",  # empty: the shipped models/default
}
TAGS = {"source:plugin", "plugin:c3po"}
# What a stopped job's lines become until the cancel takes hold. Not (None,): a suppressed
# line makes OctoPrint read on through the file under its job lock, so the job would run
# to its end instead of being cancelled; a harmless command ends each iteration.
STOPPED = ("M117 c3po stopped this print",)


class RefusedUpload(AbstractFileWrapper):
    """An upload the plugin refuses. A preprocessor that raises is only logged, so the
    refusal happens when OctoPrint saves the file: the API answers 415, nothing is stored."""

    def __init__(self, filename: str, message: str):
        super().__init__(filename)
        self.message = message

    def save(self, path, permissions=None):
        raise StorageError(self.message, code=StorageError.INVALID_FILE)

    def stream(self):
        raise StorageError(self.message, code=StorageError.INVALID_FILE)


class C3POPlugin(
    octoprint.plugin.SettingsPlugin,
    octoprint.plugin.StartupPlugin,
    octoprint.plugin.EventHandlerPlugin,
    octoprint.plugin.TemplatePlugin,
    octoprint.plugin.AssetPlugin,
    octoprint.plugin.SimpleApiPlugin,
):
    def __init__(self):
        self._cfg = dict(DEFAULTS)
        self._detector = None
        self._model_error: str | None = "model not loaded yet"
        self._job: JobWatch | None = None
        self._verdicts: dict[str, tuple[tuple | None, dict]] = {}  # path on disk -> (stat, verdict)
        self._events: collections.deque = collections.deque(maxlen=50)
        self._terminal: queue.SimpleQueue | None = None
        self._terminal_drop = False
        self._hook_errors = 0

    # ---- lifecycle and settings -------------------------------------------------------

    def initialize(self):
        self._read_settings()
        self._load_model()

    def on_after_startup(self):
        threading.Thread(target=self._warm_up, name="c3po-warmup", daemon=True).start()

    def get_settings_defaults(self):
        return dict(DEFAULTS)

    def on_settings_save(self, data):
        before = (self._cfg["model_path"], self._cfg["threshold"])
        octoprint.plugin.SettingsPlugin.on_settings_save(self, data)
        self._read_settings()
        if (self._cfg["model_path"], self._cfg["threshold"]) != before:
            self._load_model()

    def _read_settings(self) -> None:
        cfg = {k: self._settings.get([k]) for k in DEFAULTS}
        for key, allowed in CHOICES.items():
            if cfg[key] not in allowed:
                self._logger.warning(f"c3po: setting {key}={cfg[key]!r} is not one of {allowed}; using {DEFAULTS[key]!r}")
                cfg[key] = DEFAULTS[key]
        thr = cfg["threshold"]
        try:
            cfg["threshold"] = None if thr in (None, "") else float(thr)
        except (TypeError, ValueError):
            self._logger.warning(f"c3po: threshold {thr!r} is not a number; using the model's own")
            cfg["threshold"] = None
        for key in ("enabled", "heaters_off", "watch_terminal"):
            cfg[key] = bool(cfg[key])
        cfg["model_path"] = cfg["model_path"] or ""
        self._cfg = cfg
        self._terminal = queue.SimpleQueue() if cfg["watch_terminal"] else None
        self._terminal_drop = False

    def _load_model(self) -> None:
        try:
            from c3po.detect import Detector

            self._detector = Detector.from_bundle(self._cfg["model_path"] or None, threshold=self._cfg["threshold"])
            self._model_error = None
            self._logger.info(f"c3po: model {self._detector.path} loaded, threshold {self._detector.threshold}")
        except Exception as exc:  # noqa: BLE001 - a broken bundle must not take OctoPrint down
            self._detector = None
            self._model_error = str(exc) if isinstance(exc, C3POError) else f"cannot load the model: {exc!r}"
            self._logger.error(f"c3po: {self._model_error}")

    def _warm_up(self) -> None:
        det = self._detector
        if det is not None:
            try:
                det.warm_up()
            except Exception:  # noqa: BLE001
                self._logger.exception("c3po: warm-up scan failed")

    # ---- UI ---------------------------------------------------------------------------

    def is_template_autoescaped(self):
        return True

    def get_template_configs(self):
        return [{"type": "settings", "custom_bindings": False}]

    def get_assets(self):
        return {"js": ["js/c3po.js"]}

    def is_api_protected(self):
        return True

    def on_api_get(self, request):
        import flask

        det = self._detector
        job = self._job
        return flask.jsonify(
            model={
                "ok": det is not None,
                "path": str(det.path) if det is not None else (self._cfg["model_path"] or None),
                "threshold": det.threshold if det is not None else None,
                "error": self._model_error,
            },
            job=None if job is None else {"path": job.path, "filepos": job.pos, "drop": job.drop, "ended": job.ended},
            events=list(self._events),
        )

    def _report(self, kind: str, message: str, **info) -> None:
        """Tell the log, the UI and the status API (kind: flagged, refused, blocked, warning, error, info)."""
        entry = {"kind": kind, "message": f"c3po: {message}", "time": time.time(), **info}
        self._events.append(entry)
        log = self._logger.info if kind == "info" else self._logger.warning
        log(entry["message"])
        try:
            self._plugin_manager.send_plugin_message(self._identifier, entry)
        except Exception:  # noqa: BLE001 - the UI is best effort, the log is not
            self._logger.exception("c3po: could not notify the UI")

    # ---- upload ------------------------------------------------------------------------

    def on_preprocess(self, path, file_object, links=None, printer_profile=None, allow_overwrite=True, *args, **kwargs):
        try:
            return self._preprocess(path, file_object)
        except Exception:  # noqa: BLE001 - OctoPrint would only log it; say what happened
            self._logger.exception(f"c3po: scanning upload {path} failed")
            return None

    def _preprocess(self, path: str, file_object):
        cfg = self._cfg
        if not cfg["enabled"] or cfg["upload_policy"] == "off" or not valid_file_type(path, type="machinecode"):
            return None
        name = os.path.basename(path)
        det = self._detector
        if det is None:
            self._report("warning", f"{name} was not scanned: {self._model_error}", file=path)
            return None
        source = getattr(file_object, "path", None)  # DiskFileWrapper: the upload's temp file
        if source is None:
            source = file_object.stream().read()
        result = self._scan(det, source, name)
        disk = self._file_manager.path_on_disk("local", path)
        self._verdicts[disk] = (None, result)  # stat filled in at FileAdded
        block = cfg["upload_policy"] == "block"
        if result["verdict"] == "weapon":
            what = f"looks like a {result['label']} (score {result['score']:.2f})"
            if block:
                self._report("blocked", f"refused upload {name}: it {what}", file=path, **result)
                return RefusedUpload(file_object.filename, f"c3po: {name} {what}")
            self._report("flagged", f"{name} {what}; stored, but printing it will be refused", file=path, **result)
        elif result["verdict"] == "error":
            if block:
                self._report("blocked", f"refused upload {name}: {result['error']}", file=path, **result)
                return RefusedUpload(file_object.filename, f"c3po: {result['error']}")
            self._report("warning", f"{name} could not be scanned: {result['error']}", file=path, **result)
        return None

    @staticmethod
    def _scan(det, source, name: str) -> dict:
        try:
            return verdict_dict(det.scan(source, name=name, curve=False))
        except C3POError as exc:
            return {"verdict": "error", "error": str(exc)}

    def _verdict(self, disk: str) -> dict | None:
        """The remembered verdict of a file on disk, if the file has not changed since."""
        entry = self._verdicts.get(disk)
        if entry is None:
            return None
        stat, result = entry
        try:
            st = os.stat(disk)
        except OSError:
            return None
        return result if stat is None or stat == (st.st_mtime_ns, st.st_size) else None

    def _remember(self, disk: str, result: dict, origin_path: str | None = None) -> None:
        try:
            st = os.stat(disk)
            self._verdicts[disk] = ((st.st_mtime_ns, st.st_size), result)
        except OSError:
            return
        if origin_path is not None:
            try:
                self._file_manager.set_additional_metadata("local", origin_path, "c3po", result, overwrite=True)
            except Exception:  # noqa: BLE001 - the mark is a convenience; the cache decides
                self._logger.exception(f"c3po: could not mark {origin_path}")

    # ---- events ------------------------------------------------------------------------

    def on_event(self, event, payload):
        try:
            self._on_event(event, payload or {})
        except Exception:  # noqa: BLE001
            self._logger.exception(f"c3po: handling {event} failed")

    def _on_event(self, event: str, payload: dict) -> None:
        cfg = self._cfg
        if event == Events.FILE_ADDED and payload.get("storage") == "local":
            disk = self._file_manager.path_on_disk("local", payload["path"])
            entry = self._verdicts.get(disk)
            if entry is not None and entry[0] is None:
                self._remember(disk, entry[1], payload["path"])
        elif event == Events.FILE_SELECTED and cfg["enabled"]:
            if payload.get("origin") == "sdcard":
                self._report("warning", f"{payload.get('name')} is on the SD card: c3po cannot watch SD prints, "
                             f"so printing it will be {'refused' if cfg['sd_policy'] == 'refuse' else 'unwatched'}")
            elif cfg["upload_policy"] != "off" and valid_file_type(payload.get("path", ""), type="machinecode"):
                threading.Thread(target=self._check_selected, args=(payload["path"],), daemon=True).start()
        elif event == Events.PRINT_STARTED and cfg["enabled"] and payload.get("origin") == "sdcard":
            if cfg["sd_policy"] == "refuse":
                self._printer.cancel_print(tags=TAGS)
                self._report("refused", f"printing {payload.get('name')} from the SD card refused: SD prints bypass "
                             "the host, so c3po cannot watch them (setting sd_policy)", file=payload.get("path"))
            else:
                self._report("warning", f"{payload.get('name')} prints from the SD card, which c3po cannot watch")
        elif event == Events.PRINT_DONE and self._job is not None:
            self._job.finish(payload.get("size"))
        elif event in (Events.PRINT_CANCELLED, Events.PRINT_FAILED) and self._job is not None:
            self._job.stop()

    def _check_selected(self, path: str) -> None:
        """A selected file nobody scanned (copied in by other means): scan and mark it."""
        disk = self._file_manager.path_on_disk("local", path)
        det = self._detector
        if det is None or self._verdict(disk) is not None:
            return
        result = self._scan(det, disk, os.path.basename(path))
        self._remember(disk, result, path)
        if result["verdict"] == "weapon":
            self._report("flagged", f"{os.path.basename(path)} looks like a {result['label']} "
                         f"(score {result['score']:.2f}); printing it will be refused", file=path, **result)

    # ---- printing ----------------------------------------------------------------------

    def on_queuing(self, comm, phase, cmd, cmd_type, gcode, subcode=None, tags=None, *args, **kwargs):
        """Runs for every line sent: record the file position, never block, never raise."""
        try:
            if not tags or "source:file" not in tags:
                if self._terminal is not None and tags and "api:printer.command" in tags:
                    return self._on_terminal(cmd)
                return None
            pos = 0
            for tag in tags:
                if tag[:8] == "filepos:":
                    pos = int(tag[8:])
                    break
            job = self._job
            if job is None or job.ended or pos < job.pos:
                job = self._job = self._begin(comm)
                job.start()  # after the assignment: the worker may report at once
            if job.drop:
                return STOPPED
            job.pos = pos
        except Exception:  # noqa: BLE001 - never into OctoPrint's send loop
            self._hook_errors += 1
            if self._hook_errors <= 3:
                self._logger.exception("c3po: queuing hook failed")
        return None

    def _begin(self, comm) -> JobWatch:
        """First line of a job: decide once how to watch it (cheap; the work is threaded)."""
        cfg = self._cfg
        current = getattr(comm, "_currentFile", None)
        path = current.getFilename() if current is not None else None
        idle = JobWatch(path or "", None, self._on_flag, self._on_error)  # follows nothing
        if not cfg["enabled"] or not path:
            return idle
        name = os.path.basename(path)
        det = self._detector
        if det is None:
            if cfg["fail_policy"] == "refuse":
                why = (f"printing {name} refused: c3po has no usable model ({self._model_error}); "
                       "fix the model or set the fail policy to allow")
                return self._watch(path, refuse=Flag("refused", why))
            self._report("warning", f"{name} prints unwatched: {self._model_error}")
            return idle
        verdict = self._verdict(path) if cfg["upload_policy"] != "off" else None
        if verdict is not None and verdict["verdict"] == "weapon":
            why = f"printing {name} refused: it looks like a {verdict['label']} (score {verdict['score']:.2f})"
            return self._watch(path, refuse=Flag("refused", why, score=verdict["score"], label=verdict["label"]))
        if verdict is not None and verdict["verdict"] == "error" and cfg["fail_policy"] == "refuse":
            return self._watch(path, refuse=Flag("refused", f"printing {name} refused: {verdict['error']}"))
        prescan = self._prescan if cfg["upload_policy"] != "off" and verdict is None else None
        return self._watch(path, stream=lambda: det.stream(name), prescan=prescan)

    def _watch(self, path: str, **kw) -> JobWatch:
        drop = self._cfg["action"] == "cancel"
        return JobWatch(path, kw.pop("stream", None), self._on_flag, self._on_error, drop_on_flag=drop, **kw)

    def _prescan(self, disk: str) -> Flag | None:
        """Whole-file scan of a file started before anyone scanned it."""
        det, name = self._detector, os.path.basename(disk)
        if det is None:
            return None
        result = self._scan(det, disk, name)
        self._remember(disk, result)
        if result["verdict"] == "weapon":
            return Flag("refused", f"printing {name} refused: it looks like a {result['label']} "
                        f"(score {result['score']:.2f})", score=result["score"], label=result["label"])
        if result["verdict"] == "error" and self._cfg["fail_policy"] == "refuse":
            return Flag("refused", f"printing {name} refused: {result['error']}")
        return None

    def _on_flag(self, watch: JobWatch, flag: Flag) -> None:
        action = "cancel" if flag.kind == "refused" else self._cfg["action"]
        active = watch is self._job and not (watch.ended or watch.finished)
        if not active:
            done = "the print had already ended"
        elif action == "cancel":
            self._printer.cancel_print(tags=TAGS)
            done = "print cancelled"
        elif action == "pause":
            self._printer.pause_print(tags=TAGS)
            done = "print paused"
        else:
            done = "print continues (action: warn)"
        if active and action != "warn" and self._cfg["heaters_off"]:
            self._heaters_off()
        self._report(flag.kind, f"{flag.message}; {done}", file=watch.path, layer=flag.layer, score=flag.score,
                     label=flag.label, filepos=flag.filepos, action=action if active else None)

    def _on_error(self, watch: JobWatch, exc: BaseException) -> None:
        name = os.path.basename(watch.path)
        if not isinstance(exc, C3POError):
            self._logger.error("c3po: detector failed", exc_info=exc)
        if self._cfg["fail_policy"] == "refuse":
            watch.drop = True
            self._on_flag(watch, Flag("refused", f"c3po could not judge {name}: {exc}", filepos=watch.pos))
        else:
            self._report("error", f"c3po could not judge {name}, printing on unwatched: {exc}", file=watch.path)

    def _heaters_off(self) -> None:
        profile = self._printer_profile_manager.get_current_or_default()
        for k in range(profile["extruder"]["count"]):
            self._printer.set_temperature(f"tool{k}", 0, tags=TAGS)
        if profile["heatedBed"]:
            self._printer.set_temperature("bed", 0, tags=TAGS)

    # ---- terminal (off by default: a person at the terminal is in control) -------------

    def _on_terminal(self, cmd: str):
        if self._terminal_drop:
            return (None,)
        if self._terminal_worker is None or not self._terminal_worker.is_alive():
            self._terminal_worker = threading.Thread(target=self._follow_terminal, name="c3po-terminal", daemon=True)
            self._terminal_worker.start()
        self._terminal.put(cmd)
        return None

    _terminal_worker: threading.Thread | None = None

    def _follow_terminal(self) -> None:
        det, q = self._detector, self._terminal
        if det is None or q is None:
            return
        sd = det.stream("<terminal>")
        while self._terminal is q:
            try:
                sd.feed(q.get(timeout=1.0) + "\n")
            except queue.Empty:
                continue
            if sd.flagged:
                self._terminal_drop = True
                if self._cfg["heaters_off"]:
                    self._heaters_off()
                self._report("flagged", f"terminal commands look like a weapon at layer {sd.flag_layer} "
                             f"(score {sd.score:.2f}); further terminal commands are dropped", layer=sd.flag_layer)
                return


__plugin_name__ = "c3po"
__plugin_description__ = "Detects gun-shaped prints from G-code: refuses such uploads and stops such prints."
__plugin_pythoncompat__ = ">=3.11,<4"


def __plugin_load__():
    global __plugin_implementation__, __plugin_hooks__
    __plugin_implementation__ = C3POPlugin()
    __plugin_hooks__ = {
        "octoprint.filemanager.preprocessor": __plugin_implementation__.on_preprocess,
        "octoprint.comm.protocol.gcode.queuing": __plugin_implementation__.on_queuing,
    }

"""Follow a print job through the file it is printed from; no OctoPrint imports.

OctoPrint strips comments before its hooks see a line, and a Python call per line into
the detector would slow the send loop. So the queuing hook only records how far the
printer has read (the ``filepos`` tag, bytes after the line) and a worker thread feeds
the file's own bytes up to there to a :class:`c3po.detect.StreamDetector`. The detector
therefore judges exactly the bytes the printer has been sent, comments included, and
never more than one poll interval behind.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Callable

POLL_S = 0.02  # worker wake-up interval: how far (in time) the detector may lag the printer
CHUNK = 1 << 20  # bytes fed to the detector at a time when catching up


@dataclass
class Flag:
    """Why a job was stopped: what the plugin reports to the user and the log."""

    kind: str  # "flagged" (streaming detector), "refused" (before or at start), "error"
    message: str
    layer: int | None = None  # layers printed when the detector flagged (1-based, as flag_layer)
    score: float | None = None
    label: str | None = None
    filepos: int | None = None  # bytes of the file queued to the printer when it was stopped


def verdict_dict(v) -> dict:
    """A :class:`c3po.detect.Verdict` as the plain dict stored in file metadata."""
    return {
        "verdict": v.verdict,
        "label": v.label,
        "score": round(float(v.score), 4),
        "layers": int(v.layers),
        "flag_layer": None if v.flag_layer is None else int(v.flag_layer),
    }


class JobWatch:
    """One print job read from ``path``.

    The queuing hook stores each line's file position in :attr:`pos` (one attribute
    store) and, while :attr:`drop` is set, replaces the line with a harmless command, so
    that nothing more from the file reaches the printer once the job is judged. The worker thread
    calls ``on_flag(watch, Flag)`` at most once, or ``on_error(watch, exc)`` if the
    detector fails.
    """

    def __init__(
        self,
        path: str,
        stream: Callable[[], object] | None,
        on_flag: Callable[["JobWatch", Flag], None],
        on_error: Callable[["JobWatch", BaseException], None],
        *,
        drop_on_flag: bool = True,
        prescan: Callable[[str], Flag | None] | None = None,
        refuse: Flag | None = None,
        poll_s: float = POLL_S,
    ):
        self.path = path
        self.pos = 0  # bytes of the file queued to the printer so far
        self.drop = refuse is not None  # a refused job sends nothing from its file
        self.ended = False  # print cancelled / failed: stop now
        self.finished = False  # the printer has read the whole file
        self.flag: Flag | None = None
        self.done = threading.Event()  # the worker has finished
        self._stream = stream
        self._on_flag, self._on_error = on_flag, on_error
        self._drop_on_flag = drop_on_flag
        self._prescan = prescan
        self._refuse = refuse
        self._poll_s = poll_s
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"c3po-watch {os.path.basename(path)}", daemon=True)

    def start(self) -> "JobWatch":
        """Start the worker, if there is anything to do."""
        if self._stream is not None or self._prescan is not None or self._refuse is not None:
            self._thread.start()
        else:
            self.done.set()
        return self

    def stop(self) -> None:
        """The job ended early (cancelled, failed): the worker exits without judging more."""
        self.ended = True
        self._wake.set()

    def finish(self, size: int | None = None) -> None:
        """The printer has read the whole file: judge the rest, the last layer included."""
        self.pos = max(self.pos, size if size is not None else 1 << 62)
        self.finished = True
        self._wake.set()

    def _run(self) -> None:
        try:
            if self._refuse is not None:
                self._flagged(self._refuse)
                return
            if self._prescan is not None:
                flag = self._prescan(self.path)
                if flag is not None:
                    self._flagged(flag)
                    return
            if self._stream is not None:
                self._follow()
        except Exception as exc:  # noqa: BLE001 - a worker must report, never die silently
            if not self.ended:
                self._on_error(self, exc)
        finally:
            self.done.set()

    def _follow(self) -> None:
        sd = self._stream()
        with open(self.path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            done = 0
            while not self.ended:
                upto = min(self.pos, size)
                while done < upto and not self.ended:
                    chunk = f.read(min(upto - done, CHUNK))
                    if not chunk:
                        upto = size = done  # the file shrank under us; judge what there is
                        break
                    done += len(chunk)
                    sd.feed(chunk)
                    if sd.flagged:
                        self._flagged(self._stream_flag(sd))
                        return
                if done >= size:
                    sd.close()
                    if sd.flagged:
                        self._flagged(self._stream_flag(sd))
                    return
                self._wake.wait(self._poll_s)
                self._wake.clear()

    def _stream_flag(self, sd) -> Flag:
        layer, score = sd.flag_layer, float(sd.score or 0.0)
        return Flag(
            "flagged",
            f"{os.path.basename(self.path)} looks like a weapon at layer {layer} (score {score:.2f})",
            layer=layer,
            score=score,
        )

    def _flagged(self, flag: Flag) -> None:
        if self._drop_on_flag or flag.kind == "refused":
            self.drop = True  # before anything else: not one more line from this file
        flag.filepos = self.pos
        self.flag = flag
        if not self.ended:
            self._on_flag(self, flag)

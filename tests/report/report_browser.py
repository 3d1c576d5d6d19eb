"""A minimal headless-Chromium driver for the report tests and benchmark: the DevTools protocol over a pipe.

Chromium's ``--remote-debugging-pipe`` reads NUL-terminated JSON commands on fd 3 and writes replies and events
on fd 4, so no websocket client (and no third-party package) is needed. ``Page`` collects what a test asserts
on: console errors, uncaught exceptions, log errors, network requests and JavaScript dialogs.

Also a small PNG decoder (zlib + scanline filters) to check that a screenshot is not blank.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import queue
import shutil
import struct
import subprocess
import tempfile
import threading
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--remote-debugging-pipe",
)
LOCAL_SCHEMES = ("file:", "data:", "about:", "blob:")
TIMEOUT = 60.0


class BrowserError(RuntimeError):
    pass


@dataclass
class Page:
    browser: Browser
    session: str
    events: list[dict[str, Any]] = field(default_factory=list)

    def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.browser.send(method, params, session=self.session)

    def navigate(self, url: str) -> None:
        since = self.browser.mark()
        self.send("Page.navigate", {"url": url})
        self.browser.wait_for(
            lambda m: m.get("method") == "Page.loadEventFired" and m.get("sessionId") == self.session, since=since
        )

    def evaluate(self, expression: str) -> Any:
        reply = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in reply:
            raise BrowserError(f"{expression!r} raised: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    def resize(self, width: int, height: int) -> None:
        metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}
        self.send("Emulation.setDeviceMetricsOverride", metrics)

    def screenshot(self, *, full_page: bool = False, scale: float = 1.0) -> bytes:
        """The visible viewport (where the page is scrolled to), or the whole page."""
        metrics = self.send("Page.getLayoutMetrics")
        if full_page:
            size = metrics["cssContentSize"]
            clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"]}
        else:
            view = metrics["cssVisualViewport"]
            clip = {
                "x": view["pageX"],
                "y": view["pageY"],
                "width": view["clientWidth"],
                "height": view["clientHeight"],
            }
        params = {"format": "png", "clip": clip | {"scale": scale}, "captureBeyondViewport": full_page}
        return base64.b64decode(self.send("Page.captureScreenshot", params)["data"])

    # --- what the page did ---------------------------------------------------------------------

    def _events(self, method: str) -> list[dict[str, Any]]:
        return [m["params"] for m in self.browser.events_of(self.session) if m.get("method") == method]

    def console_errors(self) -> list[str]:
        errors = [
            " ".join(str(a.get("value", a.get("description", ""))) for a in p["args"])
            for p in self._events("Runtime.consoleAPICalled")
            if p["type"] in ("error", "assert", "warning")
        ]
        errors += [p["exceptionDetails"].get("text", "exception") for p in self._events("Runtime.exceptionThrown")]
        errors += [p["entry"]["text"] for p in self._events("Log.entryAdded") if p["entry"]["level"] == "error"]
        return errors

    def network_requests(self) -> list[str]:
        """URLs the page requested over the network (file:, data:, about: and blob: are local)."""
        urls = [p["request"]["url"] for p in self._events("Network.requestWillBeSent")]
        return [url for url in urls if not url.startswith(LOCAL_SCHEMES)]

    def dialogs(self) -> list[str]:
        return [p.get("message", "") for p in self._events("Page.javascriptDialogOpening")]


class Browser:
    """One headless Chromium process with a fresh profile, driven over the DevTools pipe."""

    def __init__(self, width: int = 1400, height: int = 1000) -> None:
        if not CHROMIUM.exists():
            raise BrowserError(f"{CHROMIUM} is missing (apt-get install chromium)")
        self.width, self.height = width, height
        self.profile = tempfile.mkdtemp(prefix="reconciler-chromium-")
        self._next_id = 0
        self._messages: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._seen: list[dict[str, Any]] = []
        self._start()

    def _start(self) -> None:
        to_chrome_r, to_chrome_w = os.pipe()
        from_chrome_r, from_chrome_w = os.pipe()
        # Move the child's ends above fd 10 so that dup2 onto 3 and 4 never clobbers one of them.
        child_in = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD_CLOEXEC, 10)
        child_out = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(to_chrome_r)
        os.close(from_chrome_w)

        def attach_pipe() -> None:
            os.dup2(child_in, 3)
            os.dup2(child_out, 4)

        args = [str(CHROMIUM), *FLAGS, f"--user-data-dir={self.profile}", f"--window-size={self.width},{self.height}"]
        self.process = subprocess.Popen(
            [*args, "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(3, 4),
            preexec_fn=attach_pipe,
        )
        os.close(child_in)
        os.close(child_out)
        self._write = os.fdopen(to_chrome_w, "wb", buffering=0)
        self._stream = os.fdopen(from_chrome_r, "rb")
        self._reader = threading.Thread(target=self._read, args=(self._stream,), daemon=True)
        self._reader.start()

    def _read(self, stream: Any) -> None:
        buffer = b""
        while chunk := stream.read1(1 << 16):
            buffer += chunk
            *messages, buffer = buffer.split(b"\0")
            for message in messages:
                self._messages.put(json.loads(message))
        self._messages.put(None)

    def _next(self, deadline: float) -> dict[str, Any]:
        try:
            message = self._messages.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise BrowserError("timed out waiting for Chromium") from None
        if message is None:
            raise BrowserError("Chromium closed the DevTools pipe")
        self._seen.append(message)
        return message

    def wait_for(self, predicate: Any, *, since: int = 0, timeout: float = TIMEOUT) -> dict[str, Any]:
        """The first message from position ``since`` on that matches and was not matched before."""
        for message in self._seen[since:]:
            if not message.get("_matched") and predicate(message):
                message["_matched"] = True
                return message
        deadline = time.monotonic() + timeout
        while True:
            message = self._next(deadline)
            if predicate(message):
                message["_matched"] = True
                return message

    def send(self, method: str, params: dict[str, Any] | None = None, *, session: str | None = None) -> dict:
        self._next_id += 1
        command: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            command["sessionId"] = session
        self._write.write(json.dumps(command).encode() + b"\0")
        reply = self.wait_for(lambda m, i=self._next_id: m.get("id") == i)
        if "error" in reply:
            raise BrowserError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def mark(self) -> int:
        """A position in the message log, for ``wait_for(since=...)``."""
        self._drain()
        return len(self._seen)

    def events_of(self, session: str) -> list[dict[str, Any]]:
        self._drain()
        return [m for m in self._seen if m.get("sessionId") == session and "method" in m]

    def _drain(self) -> None:
        while True:
            try:
                message = self._messages.get_nowait()
            except queue.Empty:
                return
            if message is not None:
                self._seen.append(message)

    def new_page(self) -> Page:
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        page = Page(self, session)
        for domain in ("Page", "Runtime", "Network", "Log"):
            page.send(f"{domain}.enable")
        page.resize(self.width, self.height)
        return page

    def close(self) -> None:
        with contextlib.suppress(BrowserError):
            self.send("Browser.close")
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._write.close()
        self._reader.join(timeout=10)
        self._stream.close()
        shutil.rmtree(self.profile, ignore_errors=True)


# --- PNG -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pixels:
    width: int
    height: int
    channels: int
    rows: list[bytes]

    def colours(self) -> set[bytes]:
        step = self.channels
        return {row[i : i + 3] for row in self.rows for i in range(0, len(row), step)}

    def luminance_stddev(self) -> float:
        values = [sum(row[i : i + 3]) / 3 for row in self.rows for i in range(0, len(row), self.channels)]
        mean = sum(values) / len(values)
        return (sum((v - mean) ** 2 for v in values) / len(values)) ** 0.5


def decode_png(data: bytes) -> Pixels:
    """8-bit RGB or RGBA PNGs, as Chromium writes them."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    position, idat, header = 8, b"", None
    while position < len(data):
        (length,), kind = struct.unpack(">I", data[position : position + 4]), data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        position += 12 + length
    assert header is not None
    width, height, depth, colour_type = header[:4]
    if depth != 8 or colour_type not in (2, 6):
        raise ValueError(f"unsupported PNG: depth {depth}, colour type {colour_type}")
    channels = 3 if colour_type == 2 else 4
    return Pixels(width, height, channels, _unfilter(zlib.decompress(idat), width * channels, height, channels))


def _unfilter(raw: bytes, stride: int, height: int, bpp: int) -> list[bytes]:
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for x in range(stride):
            left = line[x - bpp] if x >= bpp else 0
            up = previous[x]
            if kind == 1:
                line[x] = (line[x] + left) & 0xFF
            elif kind == 2:
                line[x] = (line[x] + up) & 0xFF
            elif kind == 3:
                line[x] = (line[x] + (left + up) // 2) & 0xFF
            elif kind == 4:
                line[x] = (line[x] + _paeth(left, up, previous[x - bpp] if x >= bpp else 0)) & 0xFF
        rows.append(bytes(line))
        previous = line
    return rows


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c

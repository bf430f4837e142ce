"""Headless Chromium driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`): no
websocket library, no listening port. It opens a page, collects what a test must see (console
errors, exceptions, every request the page made) and takes screenshots."""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
# Nothing may leave this machine: no background services, no proxy lookups, every host name unresolvable,
# and any connection that still tries goes to a closed port on loopback.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-sync",
    "--disable-extensions",
    "--disable-domain-reliability",
    "--no-pings",
    "--disable-client-side-phishing-detection",
    "--disable-features=Translate,OptimizationHints,MediaRouter",
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--proxy-server=127.0.0.1:9",
    "--proxy-bypass-list=<-loopback>",
    "--hide-scrollbars",
    "--window-size=1280,900",
    "--remote-debugging-pipe",
]


class BrowserError(RuntimeError):
    pass


@dataclass
class Page:
    """What the page did while it loaded."""

    url: str
    errors: list[str] = field(default_factory=list)  # console errors and uncaught exceptions
    requests: list[str] = field(default_factory=list)  # every URL the page asked for, itself included


class Chromium:
    """One headless browser; use as a context manager."""

    def __init__(self, timeout: float = 60.0):
        self.timeout = timeout
        self._next_id = 0
        self._buffer = b""
        self._events: list[dict] = []

    def __enter__(self) -> Chromium:
        if not Path(CHROMIUM).exists():
            raise BrowserError(f"missing {CHROMIUM}: install the Debian package chromium")
        self._profile = tempfile.mkdtemp(prefix="pgab-chromium-")
        to_browser_read, self._to_browser = os.pipe()
        self._from_browser, from_browser_write = os.pipe()
        # out of the way of 3 and 4, where Chromium expects its pipe ends
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (to_browser_read, from_browser_write)]
        for fd in (to_browser_read, from_browser_write):
            os.close(fd)

        def pipe_ends_at_3_and_4() -> None:
            os.dup2(high[0], 3)
            os.dup2(high[1], 4)

        self._log = open(Path(self._profile) / "chromium.log", "wb")  # noqa: SIM115 - closed in __exit__
        self._process = subprocess.Popen(
            [CHROMIUM, *FLAGS, f"--user-data-dir={self._profile}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
            preexec_fn=pipe_ends_at_3_and_4,
            close_fds=False,
        )
        for fd in high:
            os.close(fd)
        return self

    def __exit__(self, *exc) -> None:
        try:
            self._send("Browser.close", {}, wait=False)
        except OSError:
            pass
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        for fd in (self._to_browser, self._from_browser):
            os.close(fd)
        self._log.close()
        shutil.rmtree(self._profile, ignore_errors=True)

    def open(self, path: Path) -> Page:
        """Load a file in a new tab and wait for its load event; the tab stays open for `evaluate`."""
        target = self._send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self._session = self._send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Runtime", "Log", "Network", "Page"):
            self._send(f"{domain}.enable", {}, session=True)
        page = Page(path.resolve().as_uri())
        self._events.clear()
        self._send("Page.navigate", {"url": page.url}, session=True)
        self._wait_event("Page.loadEventFired")
        time.sleep(0.2)  # console messages of the last scripts, if any
        self._drain()
        for event in self._events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Network.requestWillBeSent":
                page.requests.append(params["request"]["url"])
            elif method == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                page.errors.append(f"{details.get('text', '')} {details.get('exception', {}).get('description', '')}")
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                page.errors.append(" ".join(str(a.get("value", a.get("description", ""))) for a in params["args"]))
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                page.errors.append(params["entry"].get("text", ""))
        return page

    def evaluate(self, expression: str):
        """The value of a JavaScript expression in the open page."""
        result = self._send("Runtime.evaluate", {"expression": expression, "returnByValue": True}, session=True)
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression!r} threw: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    def screenshot(self, path: Path) -> Path:
        """The whole page, as PNG."""
        data = self._send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, session=True)
        path.write_bytes(base64.b64decode(data["data"]))
        return path

    def print_pdf(self, path: Path) -> Path:
        """The page as print gives it (its print styles), as PDF."""
        data = self._send("Page.printToPDF", {"printBackground": False, "preferCSSPageSize": True}, session=True)
        path.write_bytes(base64.b64decode(data["data"]))
        return path

    def _send(self, method: str, params: dict, session: bool = False, wait: bool = True) -> dict:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = self._session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        if not wait:
            return {}
        reply = self._wait(lambda m: m.get("id") == message["id"], method)
        if "error" in reply:
            raise BrowserError(f"{method}: {reply['error'].get('message')}")
        return reply.get("result", {})

    def _wait_event(self, method: str) -> dict:
        return self._wait(lambda m: m.get("method") == method, method)

    def _wait(self, wanted, what: str) -> dict:
        deadline = time.monotonic() + self.timeout
        while True:
            for i, message in enumerate(self._events):
                if wanted(message):
                    return self._events.pop(i) if "id" in message else message
            if time.monotonic() > deadline:
                raise BrowserError(f"no answer to {what} from Chromium in {self.timeout:.0f} s")
            self._read(deadline - time.monotonic())

    def _drain(self) -> None:
        while self._read(0.0):
            pass

    def _read(self, timeout: float) -> bool:
        """Messages that arrived within the timeout, appended to the events; whether any came."""
        ready, _, _ = select.select([self._from_browser], [], [], max(timeout, 0.0))
        if not ready:
            return False
        chunk = os.read(self._from_browser, 1 << 20)
        if not chunk:
            raise BrowserError(f"Chromium exited (code {self._process.poll()})")
        self._buffer += chunk
        *messages, self._buffer = self._buffer.split(b"\0")
        self._events.extend(json.loads(m) for m in messages if m)
        return True

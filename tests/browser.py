"""Headless Chromium driven through the DevTools protocol over a pipe
(--remote-debugging-pipe: JSON messages on fds 3 and 4, no port, no extra package),
with every network path closed: what the report and sweep pages are opened in."""
import base64
import fcntl
import json
import os
import shlex
import shutil
import subprocess
import tempfile
import time
from pathlib import Path


def find_chromium():
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


class Browser:
    """Headless Chromium spoken to through the DevTools protocol on a pipe."""

    FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--no-default-browser-check", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--disable-extensions",
             "--disable-default-apps", "--disable-dev-shm-usage", "--mute-audio",
             "--hide-scrollbars", "--force-color-profile=srgb",
             "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
             "--host-resolver-rules=MAP * ~NOTFOUND", "--remote-debugging-pipe")

    def __init__(self, binary, width=1100, height=900, timeout=60):
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="gradgen-chromium-")
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()
        # the browser reads commands on fd 3 and writes replies on fd 4; move the pipe
        # ends out of the way first (fds >= 100, for bash: dash takes one digit only) so the
        # redirections cannot clobber one another
        child_r = fcntl.fcntl(to_child_r, fcntl.F_DUPFD_CLOEXEC, 100)
        child_w = fcntl.fcntl(from_child_w, fcntl.F_DUPFD_CLOEXEC, 100)
        os.close(to_child_r)
        os.close(from_child_w)
        args = [binary, *self.FLAGS, f"--user-data-dir={self.profile}",
                f"--window-size={width},{height}", "about:blank"]
        command = "exec " + " ".join(shlex.quote(a) for a in args) + f" 3<&{child_r} 4>&{child_w}"
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(["bash", "-c", command], pass_fds=(child_r, child_w),
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=self.stderr)
        os.close(child_r)
        os.close(child_w)
        self._buffer = b""
        self._next_id = 0
        self.events = []
        self.session = None

    # -- the protocol
    def _send(self, method, params=None, session=True):
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session and self.session:
            message["sessionId"] = self.session
        os.write(self._to_child, json.dumps(message).encode() + b"\0")
        return self._next_id

    def _read(self, deadline):
        while b"\0" not in self._buffer:
            if time.time() > deadline:
                raise TimeoutError("Chromium did not answer")
            chunk = os.read(self._from_child, 1 << 16)
            if not chunk:
                self.stderr.seek(0)
                raise RuntimeError("Chromium exited: " + self.stderr.read().decode(errors="replace")[-2000:])
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def call(self, method, params=None, session=True):
        wanted = self._send(method, params, session)
        deadline = time.time() + self.timeout
        while True:
            message = self._read(deadline)
            if message.get("id") == wanted:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            if "method" in message:
                self.events.append(message)

    def wait_for(self, method):
        for event in self.events:
            if event["method"] == method:
                return event
        deadline = time.time() + self.timeout
        while True:
            message = self._read(deadline)
            if "method" in message:
                self.events.append(message)
                if message["method"] == method:
                    return message

    # -- a page
    def open(self, url):
        target = self.call("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True},
                                 session=False)["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable")
        self.events.clear()
        self.call("Page.navigate", {"url": url})
        self.wait_for("Page.loadEventFired")

    def evaluate(self, expression):
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"evaluate: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, path, width=1100, selector=None, height=None):
        """A PNG of the whole page, of its top `height` pixels, or of the element
        `selector` (a CSS selector)."""
        full = int(self.evaluate("Math.ceil(document.documentElement.scrollHeight)"))
        self.call("Emulation.setDeviceMetricsOverride", {"width": width, "height": full,
                                                         "deviceScaleFactor": 1, "mobile": False})
        params = {"format": "png", "captureBeyondViewport": True}
        if selector is not None:
            x, y, w, h = self.evaluate("(() => { const r = document.querySelector(%s)"
                                       ".getBoundingClientRect(); return [r.left, r.top + scrollY, "
                                       "r.width, r.height]; })()" % json.dumps(selector))
            params["clip"] = {"x": max(0, x - 16), "y": max(0, y - 16), "width": min(width, w + 32),
                              "height": h + 32, "scale": 1}
        elif height is not None:
            params["clip"] = {"x": 0, "y": 0, "width": width, "height": min(height, full), "scale": 1}
        shot = self.call("Page.captureScreenshot", params)
        Path(path).write_bytes(base64.b64decode(shot["data"]))
        return path

    def problems(self):
        """Console errors and warnings, uncaught exceptions and error log entries so far."""
        out = []
        for event in self.events:
            method, params = event["method"], event.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert", "warning"):
                out.append(f"console.{params['type']}: {params.get('args')}")
            elif method == "Runtime.exceptionThrown":
                out.append(f"exception: {params.get('exceptionDetails')}")
            elif method == "Log.entryAdded" and params["entry"]["level"] in ("error", "warning"):
                out.append(f"log: {params['entry'].get('text')} {params['entry'].get('url', '')}")
        return out

    def requests(self):
        return [e["params"]["request"]["url"] for e in self.events
                if e["method"] == "Network.requestWillBeSent"]

    def close(self):
        try:
            self.call("Browser.close", session=False)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self._to_child, self._from_child):
            try:
                os.close(fd)
            except OSError:
                pass
        self.stderr.close()
        shutil.rmtree(self.profile, ignore_errors=True)


def visit(path, script, screenshot=None):
    """(what `script` evaluates to, problems, requests) for the page at path, opened in a
    fresh headless Chromium, with a screenshot where asked (returned fourth); skips the
    calling test where no Chromium is installed."""
    import pytest
    binary = find_chromium()
    if binary is None:
        pytest.skip("no Chromium installed (.ci/run installs Debian's chromium)")
    browser = Browser(binary)
    try:
        browser.open(Path(path).resolve().as_uri())
        page = browser.evaluate(script)
        shot = browser.screenshot(screenshot) if screenshot is not None else None
        return page, browser.problems(), browser.requests(), shot
    finally:
        browser.close()

"""A headless Chromium driven through the DevTools protocol over a pipe (no new dependency).

`--remote-debugging-pipe` makes Chromium read protocol messages on its file descriptor 3 and write
them on 4, each a JSON object ended by a NUL byte. `Chromium(profile)` starts it with two pipes
placed there, attaches to its page (flat session) and offers what the page tests need:

    with Chromium(tmp_path / "profile", downloads=tmp_path / "downloads") as browser:
        browser.open(page.as_uri() + "#view=audit")      # waits for body[data-ready=true]
        browser.press("r"); browser.press("ArrowDown")   # real key events (Input.dispatchKeyEvent)
        browser.type_text("alice")                       # into the focused element
        browser.evaluate("document.title")               # Runtime.evaluate, by value
        browser.reload()                                 # Page.reload, waits until ready again
        browser.wait_for_download("review-*.json")       # Browser.setDownloadBehavior folder

A fresh `--user-data-dir` per test keeps localStorage across reloads within the test only.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import subprocess
import time
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")

# key -> (code, Windows virtual key code) for the keys the tests press
_SPECIAL_KEYS = {
    "ArrowDown": ("ArrowDown", 40),
    "ArrowUp": ("ArrowUp", 38),
    "Enter": ("Enter", 13),
    "Escape": ("Escape", 27),
    "Tab": ("Tab", 9),
}


class CdpError(RuntimeError):
    """The browser answered a command with an error, or did not answer in time."""


class Chromium:
    """One headless Chromium and its page's session (see the module docstring)."""

    def __init__(self, profile: Path, downloads: Path | None = None, timeout: float = 30.0):
        self.timeout = timeout
        self.profile, self.downloads = Path(profile), downloads
        self._next_id = 0
        self._buffer = b""
        self.events: list[dict] = []
        self.session: str | None = None
        self.process: subprocess.Popen | None = None

    # --- process and pipe --------------------------------------------------------------------
    def __enter__(self) -> Chromium:
        to_browser_read, to_browser_write = os.pipe()
        from_browser_read, from_browser_write = os.pipe()
        # copies above 9 (close-on-exec), so that placing them at 3 and 4 clobbers neither
        child_in = fcntl.fcntl(to_browser_read, fcntl.F_DUPFD_CLOEXEC, 10)
        child_out = fcntl.fcntl(from_browser_write, fcntl.F_DUPFD_CLOEXEC, 10)
        for fd in (to_browser_read, from_browser_write):
            os.close(fd)

        def place_pipes() -> None:  # in the child, before exec
            os.dup2(child_in, 3)
            os.dup2(child_out, 4)

        command = [
            str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--remote-debugging-pipe", f"--user-data-dir={self.profile}",
            "--window-size=1200,900", "about:blank",
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            close_fds=False,
            preexec_fn=place_pipes,
        )
        os.close(child_in)
        os.close(child_out)
        self._write_fd, self._read_fd = to_browser_write, from_browser_read
        try:
            self._attach()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        if self.process is not None and self.process.poll() is None:
            try:
                self.send("Browser.close", session=False)
            except (CdpError, OSError):
                pass
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        for fd in (getattr(self, "_write_fd", None), getattr(self, "_read_fd", None)):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._write_fd = self._read_fd = None

    def _read_message(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise CdpError("no message from Chromium in time")
            ready, _, _ = select.select([self._read_fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(self._read_fd, 1 << 20)
            if not chunk:
                raise CdpError(f"Chromium closed its pipe (exit status {self.process.poll()})")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def send(self, method: str, params: dict | None = None, *, session: bool = True) -> dict:
        """Send a command (to the page's session unless `session` is False); its result."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session and self.session:
            message["sessionId"] = self.session
        os.write(self._write_fd, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise CdpError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            if "method" in reply:
                self.events.append(reply)

    def _attach(self) -> None:
        targets = self.send("Target.getTargets", session=False)["targetInfos"]
        page = next(t for t in targets if t["type"] == "page")
        self.session = self.send(
            "Target.attachToTarget", {"targetId": page["targetId"], "flatten": True}, session=False
        )["sessionId"]
        self.send("Page.enable")
        self.send("Runtime.enable")
        if self.downloads is not None:
            Path(self.downloads).mkdir(parents=True, exist_ok=True)
            self.send(
                "Browser.setDownloadBehavior",
                {"behavior": "allow", "downloadPath": str(self.downloads), "eventsEnabled": True},
                session=False,
            )

    # --- the page ---------------------------------------------------------------------------
    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (CdpError on an exception)."""
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise CdpError(f"{expression!r} threw: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_until(self, expression: str, timeout: float | None = None) -> Any:
        deadline = time.monotonic() + (timeout or self.timeout)
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.05)
        raise CdpError(f"{expression!r} never became true")

    def _wait_ready(self) -> None:
        self.wait_until(
            "window.__cdp_old !== true && document.readyState === 'complete' && "
            "document.body !== null && document.body.dataset.ready === 'true'"
        )

    def open(self, url: str) -> None:
        """Navigate to `url` and wait until the page's script has finished."""
        self.evaluate("window.__cdp_old = true")
        self.send("Page.navigate", {"url": url})
        self._wait_ready()

    def reload(self) -> None:
        """Reload the page and wait until its script has finished again."""
        self.evaluate("window.__cdp_old = true")
        self.send("Page.reload", {"ignoreCache": True})
        self._wait_ready()

    def press(self, key: str) -> None:
        """Press and release one key: a printable character or a name of _SPECIAL_KEYS."""
        if key in _SPECIAL_KEYS:
            code, virtual = _SPECIAL_KEYS[key]
            down = {"type": "rawKeyDown", "key": key, "code": code}
        elif len(key) == 1:
            code = f"Key{key.upper()}" if key.isalpha() else ""
            virtual = ord(key.upper())
            down = {"type": "keyDown", "key": key, "code": code, "text": key}
        else:
            raise ValueError(f"no key named {key!r}")
        down.update(windowsVirtualKeyCode=virtual, nativeVirtualKeyCode=virtual)
        self.send("Input.dispatchKeyEvent", down)
        self.send(
            "Input.dispatchKeyEvent",
            {"type": "keyUp", "key": key, "code": code, "windowsVirtualKeyCode": virtual},
        )

    def type_text(self, text: str) -> None:
        """Type `text` into the focused element, one key at a time."""
        for character in text:
            self.press(character)

    def wait_for_download(self, pattern: str, timeout: float | None = None) -> Path:
        """The finished file matching `pattern` in the downloads folder."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while time.monotonic() < deadline:
            found = [p for p in Path(self.downloads).glob(pattern) if p.suffix != ".crdownload"]
            if found and not list(Path(self.downloads).glob("*.crdownload")):
                return found[0]
            time.sleep(0.1)
        raise CdpError(f"no download matching {pattern} in {self.downloads}")

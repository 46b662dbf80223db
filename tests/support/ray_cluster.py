"""A real one-node Ray cluster on this machine, for tests and benchmarks.

    with RayHead(num_cpus=2) as head:
        head.address   # "IP:PORT", what `ray start --head` printed (engine.address)

It runs `ray start --head --block` (a short temporary --temp-dir: Ray's socket paths must stay
short) in its own process group and stops exactly that cluster at the end (SIGTERM to the
`ray start` process, which stops what it started, then SIGKILL to what is left of its group), never with
`ray stop`, which would stop every Ray cluster of this user on the machine.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ADDRESS = re.compile(r"ray start --address='([^']+)'")


def ray_executable() -> str:
    return str(Path(sys.executable).with_name("ray"))


class RayHead:
    def __init__(self, num_cpus: int = 2, start_timeout_s: float = 120.0) -> None:
        self.num_cpus = num_cpus
        self.start_timeout_s = start_timeout_s
        self.address: str | None = None
        self.start_s: float | None = None
        self._process: subprocess.Popen | None = None
        self._temp_dir: str | None = None
        self._lines: list[str] = []

    def __enter__(self) -> RayHead:
        started = time.monotonic()
        self._temp_dir = tempfile.mkdtemp(prefix="ray", dir="/tmp")
        env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
        self._process = subprocess.Popen(
            [
                ray_executable(),
                "start",
                "--head",
                "--block",
                "--temp-dir",
                self._temp_dir,
                "--port",
                "0",
                "--num-cpus",
                str(self.num_cpus),
                "--disable-usage-stats",
                # the dashboard is a dozen processes and a fixed port: not needed here
                "--include-dashboard",
                "false",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            start_new_session=True,
        )
        found = threading.Event()
        threading.Thread(target=self._read_output, args=(found,), daemon=True).start()
        if not found.wait(self.start_timeout_s) or self.address is None:
            self.__exit__()
            raise RuntimeError("ray start --head did not start:\n" + "".join(self._lines[-30:]))
        self.start_s = time.monotonic() - started
        return self

    def _read_output(self, found: threading.Event) -> None:
        assert self._process is not None and self._process.stdout is not None
        for line in self._process.stdout:
            self._lines.append(line)
            match = ADDRESS.search(line)
            if match:
                self.address = match.group(1)
            if self.address and "ray stop" in line:  # the end of its start-up message
                found.set()
        found.set()  # it exited

    def __exit__(self, *exc) -> None:
        process = self._process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        if process is not None:
            try:  # whatever of its group outlived it
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait(timeout=30)
        if self._temp_dir:
            shutil.rmtree(self._temp_dir, ignore_errors=True)

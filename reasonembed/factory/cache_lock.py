"""One run per cache: a run's exclusive hold on its `cache_dir` (`{cache_dir}/run.lock`).

    with hold_cache(cache_dir, "generate tiny-3165... into out/demo"):
        ...   # no other holder of this lock works on cache_dir meanwhile

`reasonembed generate` checks it first (`refuse_if_held`: a refused run says one line and has
read nothing) and holds it from the end of its preflight (which only reads; bad input leaves no
trace in the cache) until it returns or raises; `reasonembed cache --prune` holds it while it
removes anything. Reading commands (`check`, `estimate`, `cache` without `--prune`) do not take
it (and write nothing under cache_dir). On Ray the driver holds it; the workers are part of its
run and never take it.

The lock is a small JSON file naming its holder (host, PID, when it was taken, what holds it, and
the process's start tick and boot id where /proc tells them). It is written complete to a
temporary file, then hard-linked to `run.lock`: the link fails when the name exists, atomically,
on local and network file systems alike, and no reader ever sees a half-written lock. A lock
file, not `fcntl.flock`, because the refusal must say who holds the cache (a flock cannot be
read), and flock is unreliable on some network file systems, where a Ray cache lives.

A lock whose process is gone is stale: on this host, a PID that no longer runs, is a zombie, or
is now another process (another start tick or boot) is taken over with one WARNING line. A lock
of another host cannot be checked from here: refused, naming the file to remove if that run has
ended. Take-overs are serialised by a flock on `run.lock.guard` (skipped where the file system
has none), so two runs that find one stale lock never both take it.

Released (removed) when the block ends: normal return, an exception, Ctrl-C (KeyboardInterrupt
unwinds the block), SIGTERM where the command turns it into one. A SIGKILL leaves the file; the
next run takes it over because its PID is gone.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from reasonembed.errors import UserError

logger = logging.getLogger("reasonembed.factory.cache_lock")

LOCK_FILE = "run.lock"
GUARD_FILE = "run.lock.guard"
BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


class CacheBusy(UserError):
    """Another run holds the cache_dir; the message names it (host, PID, start, purpose)."""


@dataclass(frozen=True)
class Holder:
    """Who holds a cache: `process` is "boot id:start tick" ("" where /proc does not tell)."""

    host: str
    pid: int
    started: str
    purpose: str
    process: str = ""

    def describe(self) -> str:
        return f"{self.purpose} (host {self.host}, PID {self.pid}, started {self.started})"


def lock_path(cache_dir: str | Path) -> Path:
    return Path(cache_dir).expanduser().absolute() / LOCK_FILE


def process_identity(pid: int) -> str | None:
    """ "boot id:start tick" of a running process, "" when it runs but /proc does not tell, None
    when no such process runs (a zombie counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # another user's process: it runs
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot = BOOT_ID.read_text().strip()
    except OSError:
        return ""
    fields = stat.rsplit(")", 1)[1].split()  # after "pid (name)": state is field 3, start 22
    if fields[0] in ("Z", "X"):
        return None
    return f"{boot}:{fields[19]}"


def read_holder(cache_dir: str | Path) -> Holder | None:
    """The holder named by the cache's lock, None when it is free. UserError when the file
    cannot be read as a lock (it names the file to remove)."""
    path = lock_path(cache_dir)
    try:
        return Holder(**json.loads(path.read_text()))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError) as error:
        raise CacheBusy(
            f"{path}: not a readable run lock ({type(error).__name__}); if no run uses "
            f"{path.parent}, remove it"
        ) from None


def holder_state(holder: Holder) -> str:
    """ "running", "gone" (stale: its process ended) or "other host" (cannot be checked)."""
    if holder.host != socket.gethostname():
        return "other host"
    identity = process_identity(holder.pid)
    if identity is None or (holder.process and identity and identity != holder.process):
        return "gone"
    return "running"


@contextmanager
def hold_cache(cache_dir: str | Path, purpose: str) -> Iterator[Holder]:
    """Hold `cache_dir` for the block (module doc); CacheBusy (one line) when a run holds it."""
    path = lock_path(cache_dir)
    me = acquire(path, purpose)
    try:
        yield me
    finally:
        release(path, me)


def acquire(path: Path, purpose: str) -> Holder:
    """Create the lock at `path` for this process, or take over a stale one; CacheBusy else."""
    path.parent.mkdir(parents=True, exist_ok=True)
    me = Holder(
        host=socket.gethostname(),
        pid=os.getpid(),
        started=datetime.now().astimezone().isoformat(timespec="seconds"),
        purpose=purpose,
        process=process_identity(os.getpid()) or "",
    )
    tmp = path.with_name(f".{path.name}.{me.host}.{me.pid}.{uuid.uuid4().hex[:8]}")
    tmp.write_text(json.dumps(asdict(me)) + "\n")
    try:
        with _guard(path):
            for _ in range(3):
                try:
                    os.link(tmp, path)
                    return me
                except FileExistsError:
                    holder = read_holder(path.parent)
                if holder is None:  # released between the link and the read: link again
                    continue
                refuse_unless_stale(path, holder)
                logger.warning(
                    "%s: taking over the lock of a run that is gone: %s", path, holder.describe()
                )
                os.replace(tmp, path)
                return me
    finally:
        tmp.unlink(missing_ok=True)
    raise CacheBusy(f"{path.parent}: its run lock keeps changing hands; run the command again")


def refuse_if_held(cache_dir: str | Path) -> None:
    """CacheBusy (one line) when a running run, or one of another host, holds `cache_dir`.
    Reads only: a caller checks this before its own checks, then takes the lock with
    `hold_cache` (which decides, and takes a stale lock over)."""
    holder = read_holder(cache_dir)
    if holder is not None:
        refuse_unless_stale(lock_path(cache_dir), holder)


def refuse_unless_stale(path: Path, holder: Holder) -> None:
    """CacheBusy naming `holder` unless its process is gone (this host only)."""
    state = holder_state(holder)
    if state == "running":
        raise CacheBusy(
            f"{path.parent} is in use by another run: {holder.describe()}; wait for it to end, "
            "or give this run another cache_dir"
        )
    if state == "other host":
        raise CacheBusy(
            f"{path.parent} is in use by a run on another host: {holder.describe()}; if that "
            f"run has ended, remove {path}"
        )


def release(path: Path, me: Holder) -> None:
    """Remove the lock if it is still `me`'s (never from a forked child of the holder)."""
    if os.getpid() != me.pid:
        return
    with _guard(path):
        try:
            holder = read_holder(path.parent)
        except CacheBusy:
            holder = None
        if holder == me:
            path.unlink(missing_ok=True)
        else:
            logger.warning("%s: no longer this run's lock; left in place", path)


@contextmanager
def _guard(path: Path) -> Iterator[None]:
    """An exclusive flock on the guard file beside `path` (a no-op where flock fails)."""
    with open(path.with_name(GUARD_FILE), "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)
        except OSError as error:
            logger.debug("%s: no flock here (%s); the atomic link alone decides", path, error)
        yield

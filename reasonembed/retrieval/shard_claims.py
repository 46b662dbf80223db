"""Claims that split a corpus's shards between replicas sharing one embedding cache folder.

Files, beside each corpus shard `docs-{key}.npy` (see `reasonembed.retrieval.cache`):

- `docs-{key}.claim-{g}`: a claim on that shard, `g` = 0, 1, 2, ... its generation. It is
  created with `os.open(O_CREAT | O_EXCL)`, so one replica alone holds each generation, and
  holds JSON `{"host", "pid", "started"}` (`socket.gethostname()`, process id, Unix time). Its
  mtime is the heartbeat: the owner touches it every `stale_after_s / 4` seconds while it
  encodes. The claim in force is the highest generation present.
- A claim is stale when its host is this host and its process no longer exists (or is a zombie),
  or when its heartbeat has not moved for `stale_after_s` seconds of the observer's own clock
  (any host: no clock agreement between hosts is needed, and a dead claimant on another host is
  therefore taken over `stale_after_s` after a replica first sees its claim). Processes that
  share a hostname must share a process-id namespace.
- Taking over a stale claim of generation g is creating generation g + 1 with O_EXCL: one replica
  wins, the others go on waiting.
- Once the shard file exists (written whole and renamed into place), its claim files are removed:
  by the writer, or by any replica that finds both (a writer killed between the two).

A replica (`encode_missing` in `reasonembed.retrieval.sharded`) claims and encodes, one at a time,
every shard it can claim, then waits for the others: every `poll_s` seconds it looks at each
shard still missing: written -> done; claim stale -> take it over and encode; else keep waiting.

Assumption: O_CREAT | O_EXCL is atomic for every replica (local filesystems, NFSv3 with Linux
clients since 2.6.5, NFSv4, Lustre, GPFS). Where it is not (NFSv2, some older NFSv3 clients),
two replicas may hold the same generation and both encode the shard: work is duplicated, the
result is still right (both write equal vectors, each file whole, renamed into place). Claims
only save work; correctness never depends on them. On NFS, keep `stale_after_s` well above the
attribute-cache time (`acregmax`, 60 s by default), or a live claim's heartbeat may look frozen.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Iterable
from pathlib import Path

logger = logging.getLogger(__name__)

STALE_AFTER_S = 120.0  # a heartbeat unmoved this long: the claimant is gone
POLL_S = 1.0  # how often a waiting replica looks at the shards others claimed


def claim_paths(target: Path, names: Iterable[str] | None = None) -> dict[int, Path]:
    """The claim files of the shard file `target` (`docs-{key}.npy`), by generation, among
    `names` (file names in its folder; None: list the folder)."""
    prefix = f"{target.stem}.claim-"
    found = {}
    for name in os.listdir(target.parent) if names is None else names:
        generation = name[len(prefix) :]
        if name.startswith(prefix) and generation.isdigit():
            found[int(generation)] = target.with_name(name)
    return found


def remove_claims(target: Path) -> None:
    """Remove every claim file of the shard file `target` (written)."""
    for path in claim_paths(target).values():
        path.unlink(missing_ok=True)


def pid_alive(pid: int) -> bool:
    """Whether process `pid` exists on this host and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by another user
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc: existence is all we know
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


class Claim:
    """A claim this process holds on the shard file `target`; `with claim:` heartbeats it, and
    on exit removes every claim file of the shard when `target` exists, else only this claim (so
    another replica may claim the shard)."""

    def __init__(self, path: Path, target: Path, generation: int, heartbeat_s: float) -> None:
        self.path, self.target, self.generation = path, target, generation
        self._heartbeat_s = heartbeat_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True, name="shard-claim")

    def _beat(self) -> None:
        while not self._stop.wait(self._heartbeat_s):
            try:
                os.utime(self.path)
            except OSError:
                return

    def __enter__(self) -> Claim:
        self._thread.start()
        return self

    def __exit__(self, *error) -> None:
        self._stop.set()
        self._thread.join()
        if self.target.exists():
            remove_claims(self.target)
        else:
            self.path.unlink(missing_ok=True)


class ShardClaims:
    """One process's view of the claims on shard files (see the module docstring)."""

    def __init__(self, stale_after_s: float = STALE_AFTER_S, poll_s: float = POLL_S) -> None:
        if stale_after_s <= 0 or poll_s <= 0:
            raise ValueError(
                f"shard claims: stale_after_s {stale_after_s} and poll_s {poll_s} must be > 0"
            )
        self.stale_after_s = stale_after_s
        self.poll_s = poll_s
        self.host = socket.gethostname()
        self._heartbeats: dict[Path, tuple[int, float]] = {}  # claim -> (mtime_ns, seen at)
        self._listings: dict[Path, tuple[float, list[str]]] = {}  # folder -> (listed at, names)

    def claim(self, target: Path) -> Claim | None:
        """A claim on the shard file `target`: generation 0 when unclaimed, the next generation
        over a stale claim; None while another replica's live claim holds it, or when another
        replica won the race for that generation."""
        held = claim_paths(target, self._names(target.parent))
        generation = 0
        if held:
            top = max(held)
            if not self.is_stale(held[top]):
                return None
            generation = top + 1
        path = target.with_name(f"{target.stem}.claim-{generation}")
        try:
            handle = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return None
        record = {"host": self.host, "pid": os.getpid(), "started": time.time()}
        with os.fdopen(handle, "w") as stream:
            json.dump(record, stream)
        if generation:
            logger.info("taking over the stale claim %s", held[generation - 1])
        return Claim(path, target, generation, self.stale_after_s / 4)

    def _names(self, folder: Path) -> list[str]:
        """The folder's file names, listed at most once per `poll_s` (one listing per pass of a
        waiting replica over its shards). An old listing is safe: creating a claim generation
        that exists fails, and a claim file that is gone is not stale."""
        now = time.monotonic()
        listed = self._listings.get(folder)
        if listed is None or now - listed[0] >= self.poll_s:
            listed = self._listings[folder] = (now, os.listdir(folder))
        return listed[1]

    def is_stale(self, path: Path) -> bool:
        """Whether the claim file `path` is stale (module docstring); a claim that is gone is not."""
        try:
            mtime = path.stat().st_mtime_ns
            record = json.loads(path.read_text() or "{}")
        except FileNotFoundError:
            return False
        except ValueError:
            record = {}  # being written: only the heartbeat rule applies
        pid = record.get("pid")
        if record.get("host") == self.host and isinstance(pid, int) and pid > 0:
            if not pid_alive(pid):
                return True
        now = time.monotonic()
        seen = self._heartbeats.get(path)
        if seen is None or seen[0] != mtime:
            self._heartbeats[path] = (mtime, now)
            return False
        return now - seen[1] >= self.stale_after_s

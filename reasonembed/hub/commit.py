"""The release commit on the Hub, and what an interruption of a publish leaves behind.

`release_commit(api, repo_id, version, head, operations, fingerprint, progress)`:
1. when `head` (main, read before) is already this release's commit (a previous run that was
   stopped before tagging: same title, same fingerprint), returns it;
2. uploads the LFS files (`upload_files`) from daemon threads while the calling thread waits
   interruptibly: huggingface_hub's own upload threads are joined on exit, so a Ctrl-C would
   wait for every upload; an uploaded file belongs to no commit, and the Hub does not take it
   again on a re-run;
3. makes ONE commit on main with `parent_commit=head` (adding every file, deleting the files
   of the previous release that this one lacks): the Hub applies it all or nothing.

`PublishProgress` records how far a publish got (`phase`); `interruption()` is the one line a
Ctrl-C or SIGTERM ends with: what changed on the Hub (never an earlier tag) and that running
the same command again finishes the release.
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass

from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi
from huggingface_hub.errors import HfHubHTTPError

from reasonembed.errors import UserError
from reasonembed.hub import layout as layouts

log = logging.getLogger(__name__)

REPO_TYPE = "dataset"
FINGERPRINT_PREFIX = "release-fingerprint: "
PHASES = ("preparing", "uploading", "committing", "tagging")
UPLOAD_THREADS = 5  # huggingface_hub's own default


@dataclass
class PublishProgress:
    """How far a publish got: `phase` (one of PHASES), main's head before it, the commit made."""

    repo_id: str
    tag: str
    phase: str = "preparing"
    head: str | None = None
    commit_oid: str | None = None

    def interruption(self) -> str:
        """The one line an interrupted publish ends with."""
        again = "run the same command again"
        if self.phase == "preparing":
            return f"publish interrupted before any upload: {self.repo_id} is unchanged; {again}"
        if self.phase == "uploading":
            return (
                f"publish interrupted while uploading: nothing was released ({self.repo_id} main "
                f"is still {(self.head or '')[:12]}, no tag {self.tag}, earlier tags unchanged); "
                f"{again} to publish {self.tag}"
            )
        if self.phase == "committing":
            return (
                f"publish interrupted while the Hub applied the release commit: main may hold "
                f"it, but no tag {self.tag} was created and earlier tags are unchanged; {again}: "
                "it tags the commit if it landed, else commits again"
            )
        return (
            f"publish interrupted after the release commit {(self.commit_oid or '')[:12]} "
            f"reached main, before tag {self.tag} was created (earlier tags are unchanged); "
            f"{again} to tag it"
        )


def release_commit(
    api: HfApi,
    repo_id: str,
    version: str,
    head: str,
    operations: list[CommitOperationAdd],
    fingerprint: str,
    progress: PublishProgress,
) -> str:
    """The one release commit on main (or the head itself when a previous run made it)."""
    title = f"Release v{version}"
    description = f"{FINGERPRINT_PREFIX}{fingerprint}"
    last = api.list_repo_commits(repo_id, repo_type=REPO_TYPE, revision=head)[0]
    if last.title == title and description in (last.message or ""):
        log.info("main is already at the release commit %s (a previous run); tagging it", head[:12])
        return head
    wanted = {op.path_in_repo for op in operations}
    stale = [
        path
        for path in api.list_repo_files(repo_id, repo_type=REPO_TYPE, revision=head)
        if path not in wanted and path not in layouts.KEPT_REMOTE_FILES
    ]
    try:
        progress.phase = "uploading"
        upload_files(api, repo_id, operations)
        log.info(
            "committing %d files (%d removed from the previous release) to %s",
            len(wanted),
            len(stale),
            repo_id,
        )
        progress.phase = "committing"
        info = api.create_commit(
            repo_id,
            operations + [CommitOperationDelete(path) for path in stale],
            commit_message=title,
            commit_description=description,
            repo_type=REPO_TYPE,
            revision="main",
            parent_commit=head,
        )
    except (HfHubHTTPError, ValueError) as error:
        raise UserError(
            f"{repo_id}: the Hub rejected the release commit ({reason(error)}); nothing was "
            f"released: main is still {head[:12]} and no tag was created; re-run the command"
        ) from error
    return info.oid


def upload_files(
    api: HfApi, repo_id: str, operations: list[CommitOperationAdd], workers: int = UPLOAD_THREADS
) -> None:
    """Upload the LFS files of `operations` (regular files travel in the commit) from `workers`
    daemon threads, one file per request, while this thread waits interruptibly: a Ctrl-C stops
    the wait at once, no new file starts, and the process can exit mid-upload. The first error
    of a worker is raised here."""
    pending: queue.SimpleQueue = queue.SimpleQueue()
    for operation in operations:
        pending.put(operation)
    stop, errors = threading.Event(), []

    def work() -> None:
        while not stop.is_set():
            try:
                operation = pending.get_nowait()
            except queue.Empty:
                return
            try:
                api.preupload_lfs_files(repo_id, [operation], repo_type=REPO_TYPE, revision="main")
            except Exception as error:  # noqa: BLE001  (raised in the waiting thread)
                errors.append(error)
                stop.set()

    threads = [
        threading.Thread(target=work, name=f"upload-{n}", daemon=True)
        for n in range(max(1, min(workers, len(operations))))
    ]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            while thread.is_alive():
                thread.join(0.2)
    finally:
        stop.set()
    if errors:
        raise errors[0]


def reason(error: Exception) -> str:
    """An HTTP error in a few words: status and the first line of its message."""
    response = getattr(error, "response", None)
    status = f"HTTP {response.status_code}: " if response is not None else ""
    return status + str(error).splitlines()[0][:200]

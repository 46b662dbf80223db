"""The loopback Hub's storage model: repos, commits, branches, tags and a blob store on disk.

Git-like semantics, as `huggingface_hub` and `datasets` expect them:

- a repo holds commits (each a full tree: path -> blob), branches and tags;
- a commit (NDJSON lines, `apply_commit`) is all-or-nothing: the new tree is built aside and
  the branch moves only when every line was read and checked (parentCommit must be the branch
  head when given);
- blobs are stored once by sha256; LFS blobs are streamed to disk by the HTTP side
  (`hub_routes`), which checks their sha256 and size.

Fault switches for tests: `fail_next_commit_after = N` makes the next commit read N operation
lines, then fail with a 500 without applying anything; `fail_next_tag = True` makes the next tag
creation fail with a 500; `lfs_uploads_open.clear()` holds every LFS upload (PUT) until
`.set()` (a Hub slowed mid-upload). `HubError(status, message, code)` is the Hub's error answer.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import unquote

LFS_SIZE_THRESHOLD = 10 * 1024 * 1024  # the Hub stores files of 10 MB and more in LFS
DEFAULT_GITATTRIBUTES = (
    "\n".join(
        f"{pattern} filter=lfs diff=lfs merge=lfs -text"
        for pattern in (
            "*.7z",
            "*.arrow",
            "*.bin",
            "*.gz",
            "*.lz4",
            "*.npy",
            "*.parquet",
            "*.pt",
            "*.safetensors",
            "*.tar",
            "*.zip",
            "*.zst",
            "*.png",
            "*.jpg",
            "*.jpeg",
        )
    )
    + "\n"
)


def _git_blob_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


@dataclass(frozen=True)
class Blob:
    """One file of a tree: content lives in the blob store under `sha256`."""

    sha256: str
    size: int
    git_oid: str
    lfs: bool


@dataclass
class Commit:
    oid: str
    parent: str | None
    title: str
    message: str
    date: str
    tree: dict[str, Blob]


@dataclass
class Repo:
    repo_type: str
    repo_id: str
    private: bool
    commits: dict[str, Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    def resolve(self, revision: str) -> Commit | None:
        revision = unquote(revision)
        for prefix in ("refs/heads/", "refs/tags/"):
            if revision.startswith(prefix):
                revision = revision[len(prefix) :]
        oid = self.branches.get(revision) or self.tags.get(revision)
        if oid is None and revision in self.commits:
            oid = revision
        return self.commits.get(oid) if oid else None


class HubError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


class HubStore:
    """Repos and blobs under `storage` (a folder), guarded by one lock. Thread-safe."""

    def __init__(self, storage: Path):
        self.storage = storage
        (self.storage / "blobs").mkdir(parents=True, exist_ok=True)
        self.repos: dict[tuple[str, str], Repo] = {}
        self.lock = threading.RLock()
        self.fail_next_commit_after: int | None = None
        self.fail_next_tag = False
        self.lfs_uploads_open = threading.Event()
        self.lfs_uploads_open.set()

    # ---- blob store ------------------------------------------------------------------------
    def blob_path(self, sha256: str) -> Path:
        return self.storage / "blobs" / sha256

    def store_bytes(self, data: bytes) -> str:
        sha = hashlib.sha256(data).hexdigest()
        path = self.blob_path(sha)
        if not path.exists():
            path.write_bytes(data)
        return sha

    def stored_files(self) -> list[Path]:
        """Every blob ever uploaded (committed or not): for tests that grep uploads."""
        return sorted((self.storage / "blobs").iterdir())

    # ---- repo state ------------------------------------------------------------------------
    def create_repo(self, repo_type: str, repo_id: str, private: bool) -> Repo:
        with self.lock:
            key = (repo_type, repo_id)
            if key in self.repos:
                raise HubError(409, f"You already created this {repo_type} repo", None)
            repo = Repo(repo_type, repo_id, private)
            data = DEFAULT_GITATTRIBUTES.encode()
            blob = Blob(self.store_bytes(data), len(data), _git_blob_oid(data), lfs=False)
            first = self._new_commit(repo, None, "initial commit", "", {".gitattributes": blob})
            repo.branches["main"] = first.oid
            self.repos[key] = repo
            return repo

    def _new_commit(self, repo: Repo, parent, title: str, message: str, tree) -> Commit:
        seed = f"{parent}\n{title}\n{message}\n{time.time_ns()}\n" + json.dumps(
            sorted((p, b.git_oid) for p, b in tree.items())
        )
        commit = Commit(
            hashlib.sha1(seed.encode()).hexdigest(), parent, title, message, _now(), tree
        )
        repo.commits[commit.oid] = commit
        return commit

    def get_repo(self, repo_type: str, repo_id: str, authorized: bool) -> Repo:
        repo = self.repos.get((repo_type, repo_id))
        if repo is None or (repo.private and not authorized):
            raise HubError(404, "Repository not found", "RepoNotFound")
        return repo

    @staticmethod
    def commit_at(repo: Repo, revision: str) -> Commit:
        commit = repo.resolve(revision)
        if commit is None:
            raise HubError(404, f"Invalid rev id: {unquote(revision)}", "RevisionNotFound")
        return commit

    def is_lfs(self, repo: Repo, revision: str, path: str, size: int, sample: bytes) -> bool:
        if size >= LFS_SIZE_THRESHOLD or b"\0" in sample:
            return True
        commit = repo.resolve(revision) or repo.commits[repo.branches["main"]]
        attributes = commit.tree.get(".gitattributes")
        text = self.blob_path(attributes.sha256).read_text() if attributes else ""
        for line in text.splitlines():
            parts = line.split()
            if len(parts) > 1 and "filter=lfs" in parts[1:]:
                if fnmatch.fnmatch(path, parts[0]) or fnmatch.fnmatch(Path(path).name, parts[0]):
                    return True
        return False

    def apply_commit(self, repo: Repo, branch: str, lines, base_url: str) -> dict:
        """Read NDJSON commit lines; move `branch` only if every line is valid."""
        header = json.loads(next(lines))
        if header.get("key") != "header":
            raise HubError(400, "first NDJSON line must be the header")
        summary = header["value"].get("summary") or ""
        description = header["value"].get("description") or ""
        parent_commit = header["value"].get("parentCommit")
        with self.lock:
            head_oid = repo.branches.get(branch)
        if head_oid is None:
            raise HubError(404, f"Invalid rev id: {branch}", "RevisionNotFound")
        tree = dict(repo.commits[head_oid].tree)
        fail_after, self.fail_next_commit_after = self.fail_next_commit_after, None
        for count, line in enumerate(lines):
            if fail_after is not None and count >= fail_after:
                raise HubError(500, "Internal Error - commit aborted by the test fault switch")
            op = json.loads(line)
            key, value = op["key"], op["value"]
            if key == "file":
                data = base64.b64decode(value["content"])
                tree[value["path"]] = Blob(
                    self.store_bytes(data), len(data), _git_blob_oid(data), False
                )
            elif key == "lfsFile":
                path = self.blob_path(value["oid"])
                if not path.exists() or path.stat().st_size != value["size"]:
                    raise HubError(
                        400, f"LFS object {value['oid']} was not uploaded", "LFSFileNotFound"
                    )
                pointer = _lfs_pointer(value["oid"], value["size"])
                tree[value["path"]] = Blob(
                    value["oid"], value["size"], _git_blob_oid(pointer), True
                )
            elif key == "deletedFile":
                if tree.pop(value["path"], None) is None:
                    raise HubError(404, "A file with this name doesn't exist", "EntryNotFound")
            elif key == "deletedFolder":
                prefix = value["path"].rstrip("/") + "/"
                for path in [p for p in tree if p.startswith(prefix)]:
                    del tree[path]
            else:
                raise HubError(400, f"unknown commit operation {key!r}")
        if fail_after is not None:
            raise HubError(500, "Internal Error - commit aborted by the test fault switch")
        with self.lock:
            if parent_commit is not None and repo.branches[branch] != parent_commit:
                raise HubError(412, "A commit has happened since. Please refresh and try again.")
            if repo.branches[branch] != head_oid:
                raise HubError(409, "A commit has happened since. Please refresh and try again.")
            commit = self._new_commit(repo, head_oid, summary, description, tree)
            repo.branches[branch] = commit.oid
        prefix = "" if repo.repo_type == "model" else f"{repo.repo_type}s/"
        return {
            "success": True,
            "commitOid": commit.oid,
            "commitUrl": f"{base_url}/{prefix}{repo.repo_id}/commit/{commit.oid}",
            "hookOutput": "",
            "pullRequestUrl": None,
        }

    # ---- JSON views --------------------------------------------------------------------------
    @staticmethod
    def entry(path: str, blob: Blob) -> dict:
        item = {"type": "file", "oid": blob.git_oid, "size": blob.size, "path": path}
        if blob.lfs:
            item["lfs"] = {"oid": blob.sha256, "size": blob.size, "pointerSize": 134}
        return item

    @staticmethod
    def folders(tree: dict[str, Blob]) -> set[str]:
        names = set()
        for path in tree:
            parts = path.split("/")[:-1]
            names.update("/".join(parts[: i + 1]) for i in range(len(parts)))
        return names

    def repo_info(self, repo: Repo, commit: Commit) -> dict:
        card = None
        readme = commit.tree.get("README.md")
        if readme is not None:
            text = self.blob_path(readme.sha256).read_text(encoding="utf-8")
            match = re.match(r"^---\s*\n(.*?)\n---\s*\n", text, re.DOTALL)
            if match:
                import yaml

                card = yaml.safe_load(match.group(1))
        return {
            "_id": hashlib.sha1(repo.repo_id.encode()).hexdigest()[:24],
            "id": repo.repo_id,
            "author": repo.repo_id.split("/")[0],
            "sha": commit.oid,
            "lastModified": commit.date,
            "createdAt": repo.commits[min(repo.commits, key=lambda o: repo.commits[o].date)].date,
            "private": repo.private,
            "gated": False,
            "disabled": False,
            "downloads": 0,
            "likes": 0,
            "tags": [],
            "cardData": card,
            "siblings": [{"rfilename": path} for path in sorted(commit.tree)],
        }


def _lfs_pointer(oid: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {size}\n".encode()

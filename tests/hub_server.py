"""A Hub-API-compatible HTTP server on 127.0.0.1, for tests and benchmarks (DESIGN.md section 8).

It answers the routes that `huggingface_hub` (create_repo, preupload, LFS batch/upload/verify,
create_commit, create_tag, list_repo_refs/tree/files, paths-info, hf_hub_download, HfFileSystem)
and `datasets.load_dataset(..., revision=)` call, with git-like semantics:

- a repo holds commits (each a full tree: path -> blob), branches and tags;
- a commit (NDJSON) is all-or-nothing: the new tree is built aside and the branch moves only
  when every line was read and checked (parentCommit must be the branch head when given);
- LFS blobs are streamed to disk (sha256 and size checked), so big uploads use little memory;
- writes need `Authorization: Bearer <token>`; private repos are invisible without it.

Fault switches for tests: `server.fail_next_commit_after = N` (or POST /_test/fault with
{"fail_commit_after": N}) makes the next commit read N operation lines, then answer 500
without applying anything; `server.fail_next_tag = True` makes the next tag creation answer 500.

Use in-process (`with HubServer(token=...) as server: server.url`) or as a separate process:
`python tests/hub_server.py --storage DIR --token T` prints `PORT` on its first line.
"""

from __future__ import annotations

import argparse
import base64
import fnmatch
import hashlib
import json
import os
import re
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

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
COPY_CHUNK = 1024 * 1024


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


class HubServer:
    """The loopback Hub: state, blob store and HTTP front end. Thread-safe."""

    def __init__(
        self, token: str | None = "hf_loopback_test_token", storage: str | Path | None = None
    ):
        self.token = token
        self._tmp = None if storage else tempfile.TemporaryDirectory(prefix="hub-server-")
        self.storage = Path(storage or self._tmp.name)
        (self.storage / "blobs").mkdir(parents=True, exist_ok=True)
        self.repos: dict[tuple[str, str], Repo] = {}
        self.lock = threading.RLock()
        self.fail_next_commit_after: int | None = None
        self.fail_next_tag = False
        self.authorized_requests = 0
        self.request_log: list[tuple[str, str]] = []
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle -------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._httpd is not None, "server not started"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self, port: int = 0) -> HubServer:
        handler = type("Handler", (_Handler,), {"hub": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

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


_REPO = r"(?P<repo>[^/]+/[^/]+?|[^/]+?)"
_API_TYPES = r"(?P<type>models|datasets|spaces)"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    hub: HubServer

    def log_message(self, format, *args):  # quiet: tests read request_log instead
        pass

    # ---- plumbing ----------------------------------------------------------------------------
    @property
    def authorized(self) -> bool:
        header = self.headers.get("Authorization", "")
        ok = self.hub.token is None or header == f"Bearer {self.hub.token}"
        if ok and header:
            self.hub.authorized_requests += 1
        return ok

    def require_auth(self) -> None:
        if not self.authorized:
            raise HubError(401, "Invalid credentials in Authorization header", None)

    def body_chunks(self):
        """The request body as chunks (Content-Length or chunked transfer encoding), read once."""
        if getattr(self, "_body_read", False):
            return
        self._body_read = True
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return
                remaining = size
                while remaining:
                    chunk = self.rfile.read(min(remaining, COPY_CHUNK))
                    remaining -= len(chunk)
                    yield chunk
                self.rfile.readline()
        else:
            remaining = int(self.headers.get("Content-Length") or 0)
            while remaining > 0:
                chunk = self.rfile.read(min(remaining, COPY_CHUNK))
                if not chunk:
                    return
                remaining -= len(chunk)
                yield chunk

    def body(self) -> bytes:
        return b"".join(self.body_chunks())

    def json_body(self):
        data = self.body()
        if not data:
            return {}
        if "application/x-www-form-urlencoded" in self.headers.get("Content-Type", ""):
            return {k: v if len(v) > 1 else v[0] for k, v in parse_qs(data.decode()).items()}
        return json.loads(data)

    def send(
        self, status: int, payload=None, headers: dict | None = None, raw: bytes | None = None
    ):
        data = raw if raw is not None else json.dumps(payload).encode()
        self.send_response(status)
        content_type = "application/octet-stream" if raw is not None else "application/json"
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def dispatch(self) -> None:
        self._body_read = False
        url = urlsplit(self.path)
        self.query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        self.base_url = f"http://{self.headers.get('Host', '127.0.0.1')}"
        with self.hub.lock:
            self.hub.request_log.append((self.command, url.path))
        try:
            for method, pattern, name in ROUTES:
                if method == self.command or (method == "GET" and self.command == "HEAD"):
                    match = re.fullmatch(pattern, url.path)
                    if match:
                        getattr(self, name)(**match.groupdict())
                        return
            raise HubError(404, f"no route for {self.command} {url.path}")
        except HubError as error:
            # drain what the client still sends, so the connection stays usable
            for _ in self.body_chunks():
                pass
            headers = {"X-Error-Message": error.message}
            if error.code:
                headers["X-Error-Code"] = error.code
            self.send(error.status, {"error": error.message}, headers)

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = dispatch

    def repo(self, type: str, repo: str) -> Repo:
        return self.hub.get_repo(type.rstrip("s"), unquote(repo), self.authorized)

    # ---- routes ------------------------------------------------------------------------------
    def whoami(self):
        if not self.headers.get("Authorization") or not self.authorized:
            raise HubError(401, "Invalid credentials in Authorization header")
        self.send(
            200,
            {
                "type": "user",
                "name": "tester",
                "fullname": "Tester",
                "orgs": [],
                "auth": {
                    "type": "access_token",
                    "accessToken": {"displayName": "test", "role": "write"},
                },
            },
        )

    def create(self):
        self.require_auth()
        body = self.json_body()
        repo_type = body.get("type") or "model"
        name = (
            body["name"]
            if not body.get("organization")
            else f"{body['organization']}/{body['name']}"
        )
        prefix = "" if repo_type == "model" else f"{repo_type}s/"
        url = f"{self.base_url}/{prefix}{name}"
        try:
            self.hub.create_repo(
                repo_type, name, bool(body.get("private")) or body.get("visibility") == "private"
            )
        except HubError as error:
            self.send(409, {"error": error.message, "url": url})
            return
        self.send(200, {"url": url, "name": name})

    def validate_yaml(self):
        import yaml

        body = self.json_body()
        match = re.match(r"^---\s*\n(.*?)\n---\s*\n", body.get("content", ""), re.DOTALL)
        try:
            if match:
                yaml.safe_load(match.group(1))
        except yaml.YAMLError as error:
            raise HubError(400, f"Invalid metadata in README.md: {error}") from error
        self.send(200, {"errors": [], "warnings": []})

    def preupload(self, type, repo, rev):
        self.require_auth()
        found = self.repo(type, repo)
        files = []
        commit = found.resolve(rev)
        for item in self.json_body()["files"]:
            sample = base64.b64decode(item.get("sample", ""))
            lfs = self.hub.is_lfs(found, rev, item["path"], item["size"], sample)
            blob = commit.tree.get(item["path"]) if commit else None
            oid = None if blob is None else (blob.sha256 if blob.lfs else blob.git_oid)
            files.append(
                {
                    "path": item["path"],
                    "uploadMode": "lfs" if lfs else "regular",
                    "shouldIgnore": False,
                    "oid": oid,
                }
            )
        self.send(200, {"files": files, "commitOid": commit.oid if commit else None})

    def lfs_batch(self, type, repo):
        self.require_auth()
        self.repo(type, repo)
        objects = []
        for item in self.json_body()["objects"]:
            entry = {"oid": item["oid"], "size": item["size"], "authenticated": True}
            path = self.hub.blob_path(item["oid"])
            if not (path.exists() and path.stat().st_size == item["size"]):
                href = f"{self.base_url}/_lfs/{item['oid']}/{item['size']}"
                entry["actions"] = {"upload": {"href": href}, "verify": {"href": href + "/verify"}}
            objects.append(entry)
        self.send(200, {"transfer": "basic", "objects": objects, "hash_algo": "sha256"})

    def lfs_put(self, oid, size):
        digest = hashlib.sha256()
        written = 0
        fd, tmp = tempfile.mkstemp(dir=self.hub.storage / "blobs", prefix=".upload-")
        with os.fdopen(fd, "wb") as out:
            for chunk in self.body_chunks():
                digest.update(chunk)
                written += len(chunk)
                out.write(chunk)
        if digest.hexdigest() != oid or written != int(size):
            os.unlink(tmp)
            raise HubError(400, f"uploaded content does not match oid {oid} / size {size}")
        os.replace(tmp, self.hub.blob_path(oid))
        self.send(200, {})

    def lfs_verify(self, oid, size):
        body = self.json_body()
        path = self.hub.blob_path(oid)
        if not path.exists() or path.stat().st_size != int(body.get("size", size)):
            raise HubError(404, f"LFS object {oid} not found")
        self.send(200, {"message": "Everything is fine"})

    def commit(self, type, repo, rev):
        self.require_auth()
        found = self.repo(type, repo)
        lines = (line for line in self.body().split(b"\n") if line.strip())
        self.send(200, self.hub.apply_commit(found, unquote(rev), lines, self.base_url))

    def tag_create(self, type, repo, rev):
        self.require_auth()
        found = self.repo(type, repo)
        tag = self.json_body()["tag"]
        if self.hub.fail_next_tag:
            self.hub.fail_next_tag = False
            raise HubError(500, "Internal Error - tag refused by the test fault switch")
        with self.hub.lock:
            commit = self.hub.commit_at(found, rev)
            if tag in found.tags:
                raise HubError(409, f"Tag '{tag}' already exists", None)
            found.tags[tag] = commit.oid
        self.send(200, {})

    def tag_delete(self, type, repo, rev):
        self.require_auth()
        found = self.repo(type, repo)
        with self.hub.lock:
            if found.tags.pop(unquote(rev), None) is None:
                raise HubError(404, f"Invalid rev id: {unquote(rev)}", "RevisionNotFound")
        self.send(200, {})

    def branch_create(self, type, repo, name):
        self.require_auth()
        found = self.repo(type, repo)
        body = self.json_body()
        with self.hub.lock:
            name = unquote(name)
            if name in found.branches:
                raise HubError(409, f"Reference already exists: refs/heads/{name}")
            start = self.hub.commit_at(found, body.get("startingPoint") or "main")
            found.branches[name] = start.oid
        self.send(200, {})

    def refs(self, type, repo):
        found = self.repo(type, repo)
        with self.hub.lock:
            branches = [
                {"name": n, "ref": f"refs/heads/{n}", "targetCommit": o}
                for n, o in found.branches.items()
            ]
            tags = [
                {"name": n, "ref": f"refs/tags/{n}", "targetCommit": o}
                for n, o in found.tags.items()
            ]
        self.send(200, {"branches": branches, "tags": tags, "converts": [], "pullRequests": []})

    def commits(self, type, repo, rev):
        found = self.repo(type, repo)
        commit = self.hub.commit_at(found, rev)
        history = []
        while commit is not None:
            history.append(
                {
                    "id": commit.oid,
                    "title": commit.title,
                    "message": commit.message,
                    "authors": [{"user": "tester"}],
                    "date": commit.date,
                }
            )
            commit = found.commits.get(commit.parent) if commit.parent else None
        self.send(200, history)

    def tree(self, type, repo, rev, path=None):
        found = self.repo(type, repo)
        commit = self.hub.commit_at(found, rev)
        prefix = unquote(path).strip("/") + "/" if path else ""
        recursive = self.query.get("recursive", "false").lower() in ("1", "true")
        if prefix and prefix.rstrip("/") not in self.hub.folders(commit.tree):
            raise HubError(404, f"Entry not found: {prefix}", "EntryNotFound")
        items = []
        for folder in sorted(self.hub.folders(commit.tree)):
            rest = folder[len(prefix) :]
            if folder.startswith(prefix) and rest and (recursive or "/" not in rest):
                items.append(
                    {
                        "type": "directory",
                        "oid": hashlib.sha1(folder.encode()).hexdigest(),
                        "size": 0,
                        "path": folder,
                    }
                )
        for file_path, blob in sorted(commit.tree.items()):
            rest = file_path[len(prefix) :]
            if file_path.startswith(prefix) and (recursive or "/" not in rest):
                items.append(self.hub.entry(file_path, blob))
        self.send(200, items)

    def paths_info(self, type, repo, rev):
        found = self.repo(type, repo)
        commit = self.hub.commit_at(found, rev)
        paths = self.json_body().get("paths", [])
        paths = [paths] if isinstance(paths, str) else paths
        folders = self.hub.folders(commit.tree)
        items = []
        for path in paths:
            path = path.strip("/")
            if path in commit.tree:
                items.append(self.hub.entry(path, commit.tree[path]))
            elif path in folders:
                items.append(
                    {
                        "type": "directory",
                        "oid": hashlib.sha1(path.encode()).hexdigest(),
                        "size": 0,
                        "path": path,
                    }
                )
        self.send(200, items)

    def info(self, type, repo, rev="main"):
        found = self.repo(type, repo)
        self.send(200, self.hub.repo_info(found, self.hub.commit_at(found, rev)))

    def resolve(self, prefix, repo, rev, path):
        repo_type = {"datasets/": "dataset", "spaces/": "space"}.get(prefix or "", "model")
        found = self.hub.get_repo(repo_type, unquote(repo), self.authorized)
        commit = self.hub.commit_at(found, rev)
        blob = commit.tree.get(unquote(path))
        if blob is None:
            raise HubError(404, "Entry not found", "EntryNotFound")
        headers = {
            "X-Repo-Commit": commit.oid,
            "ETag": f'"{blob.git_oid}"',
            "Accept-Ranges": "bytes",
        }
        if blob.lfs:
            headers.update(
                {
                    "X-Linked-Etag": f'"{blob.sha256}"',
                    "X-Linked-Size": str(blob.size),
                    "ETag": f'"{blob.sha256}"',
                }
            )
        start, end = 0, blob.size - 1
        status = 200
        match = re.fullmatch(r"bytes=(\d*)-(\d*)", self.headers.get("Range", ""))
        if match and blob.size:
            if match.group(1):
                start = int(match.group(1))
                end = min(int(match.group(2)), blob.size - 1) if match.group(2) else blob.size - 1
            else:
                start = max(blob.size - int(match.group(2)), 0)
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{blob.size}"
        length = max(end - start + 1, 0)
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(length))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command == "HEAD":
            return
        with open(self.hub.blob_path(blob.sha256), "rb") as source:
            source.seek(start)
            remaining = length
            while remaining:
                chunk = source.read(min(remaining, COPY_CHUNK))
                if not chunk:
                    break
                self.wfile.write(chunk)
                remaining -= len(chunk)

    def fault(self):
        body = self.json_body()
        self.hub.fail_next_commit_after = body.get("fail_commit_after")
        self.send(200, {})


ROUTES = [
    ("GET", r"/api/whoami-v2", "whoami"),
    ("POST", r"/api/repos/create", "create"),
    ("POST", r"/api/validate-yaml", "validate_yaml"),
    ("POST", rf"/api/{_API_TYPES}/{_REPO}/preupload/(?P<rev>[^/]+)", "preupload"),
    ("POST", rf"/api/{_API_TYPES}/{_REPO}/commit/(?P<rev>[^/]+)", "commit"),
    ("POST", rf"/api/{_API_TYPES}/{_REPO}/tag/(?P<rev>[^/]+)", "tag_create"),
    ("DELETE", rf"/api/{_API_TYPES}/{_REPO}/tag/(?P<rev>[^/]+)", "tag_delete"),
    ("POST", rf"/api/{_API_TYPES}/{_REPO}/branch/(?P<name>[^/]+)", "branch_create"),
    ("GET", rf"/api/{_API_TYPES}/{_REPO}/refs", "refs"),
    ("GET", rf"/api/{_API_TYPES}/{_REPO}/commits/(?P<rev>[^/]+)", "commits"),
    ("GET", rf"/api/{_API_TYPES}/{_REPO}/tree/(?P<rev>[^/]+)(?:/(?P<path>.+))?", "tree"),
    ("POST", rf"/api/{_API_TYPES}/{_REPO}/paths-info/(?P<rev>[^/]+)", "paths_info"),
    ("GET", rf"/api/{_API_TYPES}/{_REPO}/revision/(?P<rev>[^/]+)", "info"),
    ("GET", rf"/api/{_API_TYPES}/{_REPO}", "info"),
    (
        "POST",
        r"/(?:datasets/|spaces/)?(?P<type>)(?P<repo>[^/]+/[^/]+?|[^/]+?)\.git/info/lfs/objects/batch",
        "lfs_batch_any",
    ),
    ("PUT", r"/_lfs/(?P<oid>[0-9a-f]{64})/(?P<size>\d+)", "lfs_put"),
    ("POST", r"/_lfs/(?P<oid>[0-9a-f]{64})/(?P<size>\d+)/verify", "lfs_verify"),
    (
        "GET",
        r"/(?P<prefix>datasets/|spaces/)?(?P<repo>[^/]+/[^/]+|[^/]+)/resolve/(?P<rev>[^/]+)/(?P<path>.+)",
        "resolve",
    ),
    ("POST", r"/_test/fault", "fault"),
]


def _lfs_batch_any(self, type, repo):
    prefix = self.path.split("/")[1]
    repo_type = {"datasets": "datasets", "spaces": "spaces"}.get(prefix, "models")
    return _Handler.lfs_batch(self, repo_type, repo)


_Handler.lfs_batch_any = _lfs_batch_any


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--storage", required=True)
    parser.add_argument("--token", default="hf_loopback_test_token")
    args = parser.parse_args()
    server = HubServer(token=args.token, storage=args.storage).start(args.port)
    print(server.url.rsplit(":", 1)[1], flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()


# ---- pytest fixture (import it in a conftest.py: `from tests.hub_server import hub_server`) ----
def point_clients_at(url: str, token: str | None, cache_dir: Path, monkeypatch) -> None:
    """Point huggingface_hub and datasets (already imported or not) at the loopback Hub.

    Both libraries read HF_ENDPOINT, HF_HUB_OFFLINE and HF_HUB_DISABLE_XET into module constants
    at import time, so the environment alone is not enough once they are imported: patch both.
    """
    import datasets.config
    import huggingface_hub.constants as constants

    env = {
        "HF_ENDPOINT": url,
        "HF_HUB_DISABLE_XET": "1",
        "HF_HUB_OFFLINE": "0",
        "HF_DATASETS_OFFLINE": "0",
        "HF_HOME": str(cache_dir / "hf_home"),
        "HF_HUB_CACHE": str(cache_dir / "hub"),
        "HF_DATASETS_CACHE": str(cache_dir / "datasets"),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    if token is not None:
        monkeypatch.setenv("HF_TOKEN", token)
    monkeypatch.setattr(constants, "ENDPOINT", url)
    monkeypatch.setattr(
        constants, "HUGGINGFACE_CO_URL_TEMPLATE", url + "/{repo_id}/resolve/{revision}/{filename}"
    )
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache_dir / "hub"))
    monkeypatch.setattr(datasets.config, "HF_ENDPOINT", url)
    monkeypatch.setattr(
        datasets.config, "HUB_DATASETS_URL", url + "/datasets/{repo_id}/resolve/{revision}/{path}"
    )
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_OFFLINE", False)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", cache_dir / "datasets")


def _hub_server_fixture(tmp_path, monkeypatch):
    """A started HubServer with every Hub client pointed at it and HF_TOKEN set to its token."""
    with HubServer(
        token="hf_loopbackSECRET" + os.urandom(8).hex(), storage=tmp_path / "hub-storage"
    ) as server:
        point_clients_at(server.url, server.token, tmp_path / "hf-cache", monkeypatch)
        yield server


try:  # pytest is a test dependency; the server also runs without it (benchmarks)
    import pytest

    hub_server = pytest.fixture(_hub_server_fixture, name="hub_server")
except ImportError:  # pragma: no cover
    pass

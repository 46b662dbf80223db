"""The Hub API routes of the loopback Hub: what `huggingface_hub` and `datasets` call.

`huggingface_hub` (create_repo, preupload, LFS batch/upload/verify, create_commit, create_tag,
list_repo_refs/tree/files, paths-info, hf_hub_download, HfFileSystem) and
`datasets.load_dataset(..., revision=)`; writes need `Authorization: Bearer <token>` and private
repos are invisible without it. POST /_test/fault with {"fail_commit_after": N} sets the commit
fault switch (`hub_store`) from another process. `ROUTES` maps each request to one method of
`HubHandler`; the module is that one table of the protocol, hence its length.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import tempfile
from urllib.parse import unquote

from tests.support.hub_http import COPY_CHUNK, HubRequestHandler
from tests.support.hub_store import HubError

_REPO = r"(?P<repo>[^/]+/[^/]+?|[^/]+?)"
_API_TYPES = r"(?P<type>models|datasets|spaces)"

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


class HubHandler(HubRequestHandler):
    """One method per route of `ROUTES`."""

    routes = ROUTES

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
        self.hub.lfs_uploads_open.wait(timeout=120)  # held by a test: a slow upload
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

    def lfs_batch_any(self, type, repo):
        prefix = self.path.split("/")[1]
        repo_type = {"datasets": "datasets", "spaces": "spaces"}.get(prefix, "models")
        return self.lfs_batch(repo_type, repo)

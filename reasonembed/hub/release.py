"""Versioned, atomic Hub releases of a `reasonembed generate` output folder.

`publish(output_dir, repo_id, version)`:

1. refuses an incomplete folder (layout.require_complete: every config export, stats.json,
   config.yaml and pipeline.yaml are required, a release never lists a file it lacks), reads
   the folder (layout.collect) and summarises it with bounded memory (facts.gather);
2. checks the version (X.Y.Z) and, on the Hub, that the tag `vX.Y.Z` does not exist yet:
   a tag is never overwritten, and nothing is uploaded when it exists;
3. renders the card against the previous release (the highest `vA.B.C` tag below this version:
   its release.json gives the changelog);
4. makes ONE commit on `main` holding every file (data, README.md, config.yaml, pipeline.yaml,
   stats.json, report and validation files, release.json) and deleting files of the previous
   release that this one lacks, with `parent_commit` = the head it read, so a concurrent push
   fails the commit instead of mixing releases;
5. tags that commit `vX.Y.Z`.

A commit the Hub rejects leaves `main` and every tag as they were (the Hub applies a commit
all-or-nothing). If the commit lands but tagging fails, re-running the same command finds the
release commit at the head of `main` (same fingerprint in its description) and only tags it.
A Ctrl-C or SIGTERM never touches an earlier tag; it ends with one line saying what reached the
Hub and that the same command finishes the release (`reasonembed.hub.commit`: the uploads run
in daemon threads, so an interruption stops the command at once).

`dry_run=True` writes the exact tree to a local folder instead (staged, renamed in whole). Files are streamed from disk
(sha256 by huggingface_hub in chunks; LFS uploads from the file), never loaded whole. The token
comes from HF_TOKEN or a huggingface_hub login; it is never written to a file, log or card.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from huggingface_hub import CommitOperationAdd, HfApi, get_token
from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, LocalTokenNotFoundError

from reasonembed.data.staging import staged_folder
from reasonembed.errors import UserError
from reasonembed.hub import card as cards
from reasonembed.hub import facts as facts_module
from reasonembed.hub import layout as layouts
from reasonembed.hub.commit import REPO_TYPE, PublishProgress, reason, release_commit
from reasonembed.interrupts import with_message

log = logging.getLogger(__name__)

VERSION_RE = re.compile(r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)")
TAG_RE = re.compile(r"v((?:0|[1-9]\d*)\.(?:0|[1-9]\d*)\.(?:0|[1-9]\d*))")
REPO_ID_RE = re.compile(r"[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*")
# text files small enough to scan for a leaked token before upload
SCANNED_SUFFIXES = (".md", ".json", ".yaml", ".yml", ".txt")


@dataclass
class Release:
    """What a publish did: the tag, the commit (None for a dry run) and the files of the tree."""

    repo_id: str
    version: str
    tag: str
    files: list[str]
    commit_oid: str | None = None
    previous_version: str | None = None
    dry_run_dir: Path | None = None
    changelog: list[str] = field(default_factory=list)


def parse_version(version: str) -> tuple[int, int, int]:
    """'1.2.3' -> (1, 2, 3); UserError for anything else (a leading 'v' is refused too)."""
    match = VERSION_RE.fullmatch(version)
    if match is None:
        raise UserError(f"--version {version!r}: expected X.Y.Z (e.g. 1.0.0) without a leading 'v'")
    return tuple(int(part) for part in match.groups())  # type: ignore[return-value]


def publish(
    output_dir: str | Path,
    repo_id: str,
    version: str,
    *,
    private: bool = False,
    dry_run: bool = False,
    dry_run_dir: str | Path | None = None,
    endpoint: str | None = None,
    token: str | None = None,
    license: str = cards.DEFAULT_LICENSE,
    pretty_name: str | None = None,
) -> Release:
    """Publish `output_dir` as release `version` of the dataset repo `repo_id` (see module doc).
    A Ctrl-C (or SIGTERM under `interrupts.sigterm_as_interrupt`) is re-raised with one line
    saying what reached the Hub (`commit.PublishProgress`)."""
    progress = PublishProgress(repo_id, f"v{version}")
    try:
        return _publish(
            output_dir,
            repo_id,
            version,
            progress,
            private=private,
            dry_run=dry_run,
            dry_run_dir=dry_run_dir,
            endpoint=endpoint,
            token=token,
            license=license,
            pretty_name=pretty_name,
        )
    except KeyboardInterrupt as stop:
        raise with_message(stop, progress.interruption()) from None


def _publish(
    output_dir: str | Path,
    repo_id: str,
    version: str,
    progress: PublishProgress,
    *,
    private: bool,
    dry_run: bool,
    dry_run_dir: str | Path | None,
    endpoint: str | None,
    token: str | None,
    license: str,
    pretty_name: str | None,
) -> Release:
    parse_version(version)
    if not REPO_ID_RE.fullmatch(repo_id):
        raise UserError(f"--repo-id {repo_id!r}: expected ORG/NAME (e.g. my-org/remixer-bright)")
    tag = f"v{version}"
    layouts.require_complete(output_dir)
    layout = layouts.collect(output_dir)
    log.info("summarising %s", layout.root)
    facts = facts_module.gather(layout)
    api = HfApi(endpoint=endpoint, token=token)
    secret = token or get_token()
    _refuse_leaked_token(secret, layout, {})  # before anything reaches the Hub

    if dry_run:
        head, previous = None, _previous_release_offline_safe(api, repo_id, version)
    else:
        _check_login(api)
        api.create_repo(repo_id, repo_type=REPO_TYPE, private=private, exist_ok=True)
        refs = api.list_repo_refs(repo_id, repo_type=REPO_TYPE)
        tags = {ref.name: ref.target_commit for ref in refs.tags}
        if tag in tags:
            raise UserError(
                f"{repo_id}: tag {tag} already exists (commit {tags[tag][:12]}); a release is never "
                f"overwritten: publish a new version (e.g. {_next_patch(version)}) instead"
            )
        head = next(ref.target_commit for ref in refs.branches if ref.name == "main")
        progress.head = head
        previous = _previous_release(api, repo_id, version, tags)

    repo_url = f"{api.endpoint}/datasets/{repo_id}"
    operations = [CommitOperationAdd(f.path_in_repo, str(f.local_path)) for f in layout.files()]
    fingerprint = _fingerprint(operations)
    manifest = {
        "version": version,
        "tag": tag,
        "repo_id": repo_id,
        "previous_version": previous.get("version") if previous else None,
        **facts,
        "files": [
            {
                "path": op.path_in_repo,
                "size": op.upload_info.size,
                "sha256": op.upload_info.sha256.hex(),
            }
            for op in operations
        ],
    }
    card_text = cards.render_card(
        facts,
        layout,
        repo_id=repo_id,
        repo_url=repo_url,
        version=version,
        previous=previous,
        pretty_name=pretty_name,
        license=license,
    )
    generated = {
        layouts.CARD_FILE: card_text.encode("utf-8"),
        layouts.MANIFEST_FILE: (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode(
            "utf-8"
        ),
    }
    _refuse_leaked_token(secret, None, generated)
    release = Release(
        repo_id=repo_id,
        version=version,
        tag=tag,
        files=sorted([op.path_in_repo for op in operations] + list(generated)),
        previous_version=manifest["previous_version"],
        changelog=cards.changelog(facts, previous),
    )
    if dry_run:
        release.dry_run_dir = _write_tree(layout, generated, version, dry_run_dir)
        return release

    operations += [CommitOperationAdd(path, data) for path, data in generated.items()]
    release.commit_oid = release_commit(
        api, repo_id, version, head, operations, fingerprint, progress
    )
    progress.phase, progress.commit_oid = "tagging", release.commit_oid
    try:
        api.create_tag(
            repo_id,
            tag=tag,
            revision=release.commit_oid,
            repo_type=REPO_TYPE,
            tag_message=f"Release {tag}",
        )
    except HfHubHTTPError as error:
        raise UserError(
            f"{repo_id}: release commit {release.commit_oid[:12]} is on main but tagging {tag} failed "
            f"({reason(error)}); re-run the same command to tag it"
        ) from error
    log.info(
        "published %s %s: commit %s, %d files",
        repo_id,
        tag,
        release.commit_oid[:12],
        len(release.files),
    )
    return release


def _check_login(api: HfApi) -> None:
    try:
        api.whoami()
    except (LocalTokenNotFoundError, HfHubHTTPError) as error:
        raise UserError(
            "no valid Hugging Face token: set HF_TOKEN or run `hf auth login` "
            f"(the Hub answered: {reason(error)})"
        ) from error


def _next_patch(version: str) -> str:
    major, minor, patch = parse_version(version)
    return f"{major}.{minor}.{patch + 1}"


def _fingerprint(operations: list[CommitOperationAdd]) -> str:
    digest = hashlib.sha256()
    for op in sorted(operations, key=lambda op: op.path_in_repo):
        digest.update(f"{op.path_in_repo}\0{op.upload_info.sha256.hex()}\n".encode())
    return digest.hexdigest()


def _previous_release(api: HfApi, repo_id: str, version: str, tags: dict[str, str]) -> dict | None:
    """release.json of the highest vA.B.C tag below `version` ({"version"} alone if it has none)."""
    versions = [m.group(1) for name in tags if (m := TAG_RE.fullmatch(name))]
    older = [v for v in versions if parse_version(v) < parse_version(version)]
    if not older:
        return None
    previous = max(older, key=parse_version)
    with tempfile.TemporaryDirectory(prefix="reasonembed-previous-") as cache:
        try:
            path = api.hf_hub_download(
                repo_id,
                layouts.MANIFEST_FILE,
                repo_type=REPO_TYPE,
                revision=f"v{previous}",
                cache_dir=cache,
            )
        except EntryNotFoundError:
            log.warning(
                "%s v%s has no %s: the changelog lists no differences",
                repo_id,
                previous,
                layouts.MANIFEST_FILE,
            )
            return {"version": previous}
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    data["version"] = previous
    return data


def _previous_release_offline_safe(api: HfApi, repo_id: str, version: str) -> dict | None:
    """For dry runs: the previous release when the Hub answers, else None (with a warning)."""
    try:
        refs = api.list_repo_refs(repo_id, repo_type=REPO_TYPE)
        tags = {ref.name: ref.target_commit for ref in refs.tags}
        if f"v{version}" in tags:
            log.warning(
                "%s: tag v%s already exists: a real publish of this version would be refused",
                repo_id,
                version,
            )
        return _previous_release(api, repo_id, version, tags)
    except Exception as error:  # noqa: BLE001  (offline, no repo yet, no token: all fine for a dry run)
        log.warning(
            "dry run: previous release of %s not read (%s); the changelog treats this as the first release",
            repo_id,
            type(error).__name__,
        )
        return None


def _refuse_leaked_token(
    secret: str | None, layout: layouts.ReleaseLayout, generated: dict[str, bytes]
) -> None:
    """UserError when a text file of the release contains the Hub token in use."""
    if not secret:
        return
    needle = secret.encode()
    for path, data in generated.items():
        if needle in data:
            raise UserError(
                f"refusing to publish: the generated {path} contains your Hugging Face token"
            )
    for file in layout.files() if layout else []:
        if file.local_path.suffix in SCANNED_SUFFIXES and needle in file.local_path.read_bytes():
            raise UserError(
                f"refusing to publish: {file.local_path} contains your Hugging Face token; remove it"
            )


def _write_tree(
    layout: layouts.ReleaseLayout,
    generated: dict[str, bytes],
    version: str,
    target: str | Path | None,
) -> Path:
    """Copy the release tree to `target` (default: next to the output folder); streamed copies,
    staged beside it and renamed in whole (a full disk is one line and leaves nothing)."""
    target = (
        Path(target) if target else layout.root.parent / f"{layout.root.name}-release-v{version}"
    )
    if target.exists() and any(target.iterdir()):
        raise UserError(f"{target}: exists and is not empty; pass an empty or new --dry-run-dir")
    size = sum(file.size for file in layout.files()) + sum(map(len, generated.values()))
    with staged_folder(target, needed=lambda staged: size) as staging:  # whole, or not at all
        for file in layout.files():
            destination = staging / file.path_in_repo
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(file.local_path, destination)
        for path, data in generated.items():
            (staging / path).parent.mkdir(parents=True, exist_ok=True)
            (staging / path).write_bytes(data)
    log.info("dry run: wrote the release tree of v%s to %s", version, target)
    return target

"""What is in a `cache_dir` and how big (`reasonembed cache`), read without writing anything.

    listing = inventory(cache_dir, config)    # config: a FactoryConfig, or None
    print(format_listing(listing))            # or listing.to_json()

Every file under `cache_dir` is in exactly one item of one section, so the sections add up to
the folder (apparent sizes):
- requests: `requests.sqlite` (the request cache and usage ledger, with its WAL files): the
  answers per model and stage (bytes of their text and keys, count, first and last stored), and
  the rest of the file (key index, usage ledger, free pages);
- embeddings: one item per model fingerprint folder (`embeddings/<fingerprint>/`: corpus shards
  and looked-up vectors) and the memory-mapped corpus stores (`embeddings/corpora`);
- step outputs: distilabel's cache of each pipeline (`distilabel/<config name>-<config hash>/`),
  with the state its run markers give: finished, unfinished (killed, or running now: see the
  lock) or partial (deferred work);
- seeds (`seeds/<config hash>.jsonl`, rewritten by every run), local models (the bundled LLM
  converted once into `models/`), run markers (`running-*.json`, `partial-*.json`), the lock
  (`run.lock`: who holds the cache) and anything else (the seed gate's `pacing.sqlite`, ...).

With a config, items say whether that config uses them: embeddings by the model part of the
fingerprint (the retriever's weights; its pooling and length settings aside), step outputs,
seeds and markers by the config hash, local models by a role with `backend: local`.
"""

from __future__ import annotations

import sqlite3
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from reasonembed.config import FactoryConfig, config_hash
from reasonembed.data.diskspace import folder_bytes, format_bytes
from reasonembed.factory.cache_lock import (
    GUARD_FILE,
    LOCK_FILE,
    CacheBusy,
    holder_state,
    read_holder,
)
from reasonembed.llms.request_cache import request_cache_path

SECTIONS = (
    "requests",
    "embeddings",
    "step outputs",
    "seeds",
    "local models",
    "run markers",
    "lock",
    "other",
)
CACHE_ENTRIES = ("requests.sqlite", "distilabel", "embeddings", "seeds", "models", LOCK_FILE)
# top-level entries with a section of their own (markers and lock files are matched by name)
LISTED = {"requests.sqlite", "requests.sqlite-wal", "requests.sqlite-shm"} | {
    "embeddings",
    "distilabel",
    "seeds",
    "models",
}
# request-cache answers: model, stage, first and last stored, count, bytes of text and key
ANSWER_BYTES = "COUNT(*), SUM(LENGTH(CAST(text AS BLOB)) + LENGTH(key))"
ANSWERS_BY_MODEL_AND_STAGE = (
    f"SELECT model, stage, MIN(at), MAX(at), {ANSWER_BYTES} FROM completions "
    "GROUP BY model, stage ORDER BY model, stage"
)
ANSWERS = f"SELECT NULL, NULL, NULL, NULL, {ANSWER_BYTES} FROM completions"
MARKERS = {"running": "unfinished (killed, or running now)", "partial": "partial (deferred work)"}


@dataclass
class Item:
    """One thing in a cache: `path` is what pruning it removes (None: not removable alone);
    `in_config` None when no config was given or it does not apply."""

    section: str
    name: str
    bytes: int
    note: str = ""
    in_config: bool | None = None
    path: str | None = None


@dataclass
class CacheListing:
    cache_dir: Path
    config_name: str | None = None
    items: list[Item] = field(default_factory=list)
    lock: str = "free"

    def section_bytes(self) -> dict[str, int]:
        totals = dict.fromkeys(SECTIONS, 0)
        for item in self.items:
            totals[item.section] += item.bytes
        return totals

    @property
    def total_bytes(self) -> int:
        return sum(item.bytes for item in self.items)

    def to_json(self) -> dict[str, Any]:
        return {
            "cache_dir": str(self.cache_dir),
            "config": self.config_name,
            "lock": self.lock,
            "sections": self.section_bytes(),
            "total_bytes": self.total_bytes,
            "items": [asdict(item) for item in self.items],
        }


def looks_like_cache(folder: Path) -> bool:
    """True when `folder` holds one of the entries a run writes into its cache_dir."""
    return any((folder / name).exists() for name in CACHE_ENTRIES)


def inventory(cache_dir: str | Path, config: FactoryConfig | None = None) -> CacheListing:
    """The items of `cache_dir` (module doc); an absent folder has none."""
    root = Path(cache_dir).expanduser().absolute()
    listing = CacheListing(root, config.name if config else None)
    if not root.is_dir():
        return listing
    digest = config_hash(config) if config else None
    listing.items += request_items(root)
    listing.items += embedding_items(root / "embeddings", config)
    listing.items += step_output_items(root, config)
    listing.items += [
        Item("seeds", path.name, path.stat().st_size, "", _same(path.stem, digest), str(path))
        for path in _children(root / "seeds")
    ]
    listing.items += local_model_items(root / "models", config)
    listing.lock, lock_items = lock_items_of(root)
    listing.items += lock_items
    listing.items += [
        Item("run markers", path.name, path.stat().st_size, MARKERS[kind], _same(hash_, digest))
        for path, kind, hash_ in _markers(root)
    ]
    listing.items += [
        Item("other", path.name, folder_bytes(path))
        for path in _children(root)
        if path.name not in LISTED and not _marker_kind(path.name) and not _is_lock_file(path.name)
    ]
    return listing


def request_items(root: Path) -> list[Item]:
    """The request cache's answers per model and stage, and the rest of its file."""
    path = request_cache_path(root)
    files = [Path(f"{path}{suffix}") for suffix in ("", "-wal", "-shm")]
    total = sum(file.stat().st_size for file in files if file.exists())
    if not path.exists():
        return []
    items = []
    connection = sqlite3.connect(path, timeout=60)  # reads only; its WAL files go on close
    try:
        columns = {row[1] for row in connection.execute("PRAGMA table_info(completions)")}
        if not columns:
            rows = []
        elif {"model", "stage", "at"} <= columns:
            rows = connection.execute(ANSWERS_BY_MODEL_AND_STAGE).fetchall()
        else:  # a file from before model, stage and time were recorded
            rows = connection.execute(ANSWERS).fetchall()
    finally:
        connection.close()
    for model, stage, first, last, count, size in rows:
        if not count:
            continue
        name = f"{model or '(model not recorded)'} / {stage or '(stage not recorded)'}"
        items.append(Item("requests", name, int(size), f"{count:,} answers{_stored(first, last)}"))
    rest = max(0, total - sum(item.bytes for item in items))
    items.append(Item("requests", "(key index, usage ledger, free pages, WAL)", rest))
    return items


def embedding_items(folder: Path, config: FactoryConfig | None) -> list[Item]:
    model_part = retriever_fingerprint(config) if config else None
    items = []
    for path in _children(folder):
        if path.name == "corpora":
            note = f"corpus stores (texts, memory-mapped): {len(list(path.glob('*.arrow')))}"
            items.append(Item("embeddings", "corpora", folder_bytes(path), note, None, str(path)))
        elif path.is_dir():
            shards = len(list(path.glob("docs-*.npy")))
            lookups = len(list(path.glob("shard-*.npz")))
            note = f"corpus shards: {shards}, looked-up batches: {lookups}"
            in_config = None if model_part is None else path.name.split("-")[0] == model_part
            items.append(
                Item("embeddings", path.name, folder_bytes(path), note, in_config, str(path))
            )
        else:
            items.append(Item("embeddings", path.name, path.stat().st_size))
    return items


def retriever_fingerprint(config: FactoryConfig) -> str | None:
    """The model part of the fingerprint of the config's retriever (None: not resolvable)."""
    from reasonembed.retrieval.models import model_fingerprint, resolve_model_path

    try:
        return model_fingerprint(resolve_model_path(config.mining.retriever))
    except FileNotFoundError:
        return None


def step_output_items(root: Path, config: FactoryConfig | None) -> list[Item]:
    name_in_config = None
    if config is not None:
        from reasonembed.factory.pipeline import pipeline_name

        name_in_config = pipeline_name(config)
    states = {hash_: MARKERS[kind] for _, kind, hash_ in _markers(root)}
    items = []
    for path in _children(root / "distilabel"):
        state = states.get(path.name.rsplit("-", 1)[-1], "finished")
        in_config = _same(path.name, name_in_config)
        items.append(
            Item("step outputs", path.name, folder_bytes(path), state, in_config, str(path))
        )
    return items


def local_model_items(folder: Path, config: FactoryConfig | None) -> list[Item]:
    from reasonembed.llms.local_model import CONVERTED_FOLDER

    used = None
    if config is not None:
        used = any(role.backend == "local" for role in (config.generator, config.annotator))
    items = []
    for path in _children(folder):
        if path.is_dir():
            in_config = None if used is None else used and path.name == Path(CONVERTED_FOLDER).name
            note = "the bundled LLM, converted from its GGUF once"
            items.append(
                Item("local models", path.name, folder_bytes(path), note, in_config, str(path))
            )
        else:
            items.append(Item("local models", path.name, path.stat().st_size))
    return items


def lock_items_of(root: Path) -> tuple[str, list[Item]]:
    """(who holds the cache, in words; the lock's files)."""
    try:
        holder = read_holder(root)
        state = "free" if holder is None else f"{holder.describe()}: {holder_state(holder)}"
    except CacheBusy as error:
        state = str(error)
    items = [
        Item("lock", path.name, path.stat().st_size, state if path.name == LOCK_FILE else "")
        for path in _children(root)
        if _is_lock_file(path.name)
    ]
    return state, items


def format_listing(listing: CacheListing) -> str:
    """The listing as a table: a line per section (its total), its items indented, a total."""
    rows: list[tuple[str, str, str]] = []
    sections = listing.section_bytes()
    for section in SECTIONS:
        items = [item for item in listing.items if item.section == section]
        if not items:
            continue
        rows.append((section, format_bytes(sections[section]), ""))
        for item in items:
            rows.append((f"  {item.name}", format_bytes(item.bytes), _note(item)))
    rows.append(("total", format_bytes(listing.total_bytes), ""))
    width = max(len(name) for name, _, _ in rows)
    config = f" (config {listing.config_name})" if listing.config_name else ""
    lines = [f"cache_dir {listing.cache_dir}{config}", f"lock: {listing.lock}", ""]
    if not listing.items:
        lines.append("empty: nothing cached yet")
    lines += [f"{name:<{width}}  {size:>9}  {note}".rstrip() for name, size, note in rows]
    return "\n".join(lines)


def _note(item: Item) -> str:
    usage = {True: "in config", False: "not in config", None: ""}[item.in_config]
    return ", ".join(part for part in (item.note, usage) if part)


def _children(folder: Path) -> list[Path]:
    return sorted(folder.iterdir()) if folder.is_dir() else []


def _marker_kind(name: str) -> str | None:
    """ "running" or "partial" for a run marker's file name (`reasonembed.factory.run_state`), else None."""
    kind = name.split("-", 1)[0]
    return kind if kind in MARKERS and name.endswith(".json") else None


def _is_lock_file(name: str) -> bool:
    """The lock, its guard, or a lock being written (`reasonembed.factory.cache_lock`)."""
    return name in (LOCK_FILE, GUARD_FILE) or name.startswith(f".{LOCK_FILE}.")


def _markers(root: Path) -> list[tuple[Path, str, str]]:
    """(path, kind, config hash) of each run marker in `root`."""
    found = []
    for path in _children(root):
        kind = _marker_kind(path.name)
        if kind:
            found.append((path, kind, path.name.removeprefix(f"{kind}-").removesuffix(".json")))
    return found


def _same(value: str, wanted: str | None) -> bool | None:
    return None if wanted is None else value == wanted


def _stored(first: float | None, last: float | None) -> str:
    """ ", stored DAY TIME[ .. DAY TIME]" (local time), or "" when not recorded."""
    if first is None:
        return ""
    days = [datetime.fromtimestamp(at).strftime("%Y-%m-%d %H:%M") for at in (first, last)]
    return f", stored {days[0]}" + (f" .. {days[1]}" if days[1] != days[0] else "")

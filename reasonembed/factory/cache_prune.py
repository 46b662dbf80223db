"""Reclaiming space in a `cache_dir` (`reasonembed cache --prune KIND`).

    result = prune(cache_dir, config, ["step-outputs"], before=None, dry_run=True)
    print(format_result(result))

What each kind removes (PRUNE_KINDS), from the items of `reasonembed.factory.cache_inventory`:
- `step-outputs`: distilabel's step outputs of every pipeline. A finished run's are only a
  shortcut for an exact re-run, which the request cache also serves without a paid request;
  an unfinished or partial run's are removed by its next run anyway (`reasonembed.factory.run_state`).
- `seeds`: the selected seeds, which every run selects and writes again.
- `embeddings-not-in-config`: the embedding folders of models other than the config's retriever
  (needs a config). The next run with such a model encodes its corpora again.
- `requests`: request-cache answers stored before `before`, then VACUUM (which needs free space
  about the size of the file while it runs). Those requests are paid again if asked again.
  Answers of a file from before storage times were recorded count as stored when a run first
  opened it with this version (undated, and kept, until one does).
Run markers, the lock, local models, corpus stores and anything unknown are never removed.

Pruning holds the cache lock (`reasonembed.factory.cache_lock`) from its listing to its last removal:
refused in one line while a run holds the cache, and a run started meanwhile is refused in turn.
A dry run takes no lock and changes nothing: it lists what would go and how big it is.
"""

from __future__ import annotations

import shutil
import sqlite3
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from reasonembed.config import FactoryConfig
from reasonembed.data.diskspace import format_bytes
from reasonembed.errors import UserError
from reasonembed.factory.cache_inventory import ANSWER_BYTES, Item, inventory, looks_like_cache
from reasonembed.factory.cache_lock import hold_cache
from reasonembed.llms.request_cache import request_cache_path

PRUNE_KINDS = {
    "step-outputs": "distilabel's step outputs of every pipeline",
    "seeds": "the selected seeds (every run writes them again)",
    "embeddings-not-in-config": "embeddings of models other than the config's retriever",
    "requests": "request-cache answers stored before --before DATE, then VACUUM",
}
SECTION_OF_KIND = {"step-outputs": "step outputs", "seeds": "seeds"}


@dataclass
class PruneResult:
    """What went (or, for a dry run, would go) and the bytes freed (estimated for a dry run)."""

    items: list[Item]
    freed_bytes: int
    total_bytes: int
    dry_run: bool

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "items": [asdict(item) for item in self.items]}


def prune(
    cache_dir: str | Path,
    config: FactoryConfig | None,
    kinds: list[str],
    before: datetime | None = None,
    dry_run: bool = False,
) -> PruneResult:
    """Remove what `kinds` name (module doc); UserError when the folder is not a cache, a kind
    lacks what it needs, or a run holds the cache (`CacheBusy`)."""
    root = Path(cache_dir).expanduser().absolute()
    if not looks_like_cache(root):
        raise UserError(f"{root}: not a reasonembed cache_dir (nothing a run writes is there)")
    if "embeddings-not-in-config" in kinds and config is None:
        raise UserError(
            "--prune embeddings-not-in-config needs a config to know its models: give the "
            "FactoryConfig YAML (or the generate output folder) instead of the cache folder"
        )
    if ("requests" in kinds) != (before is not None):
        raise UserError("--prune requests and --before DATE go together: give both or neither")
    if dry_run:
        listing = inventory(root, config)
        items = plan(listing.items, root, kinds, before)
        return PruneResult(items, sum(i.bytes for i in items), listing.total_bytes, True)
    with hold_cache(root, f"reasonembed cache --prune {' '.join(kinds)}"):
        start = inventory(root, config)
        items = plan(start.items, root, kinds, before)
        for item in items:
            if item.path is not None:
                remove(Path(item.path))
        if before is not None:
            delete_requests_before(root, before)
        total = inventory(root, config).total_bytes
    return PruneResult(items, max(0, start.total_bytes - total), total, False)


def plan(items: list[Item], root: Path, kinds: list[str], before: datetime | None) -> list[Item]:
    """The items `kinds` remove, in listing order (requests: one per model and stage)."""
    chosen = []
    for item in items:
        if item.path is None:
            continue
        if any(SECTION_OF_KIND.get(kind) == item.section for kind in kinds):
            chosen.append(item)
        elif "embeddings-not-in-config" in kinds and item.section == "embeddings":
            if item.in_config is False:
                chosen.append(item)
    if before is not None:
        chosen += requests_before(root, before)
    return chosen


def requests_before(root: Path, before: datetime) -> list[Item]:
    """One item per model and stage: the answers stored before `before` (bytes: text + key)."""
    path = request_cache_path(root)
    if not path.exists():
        return []
    connection = sqlite3.connect(path, timeout=60)
    try:
        if not _dated(connection):
            return []
        rows = connection.execute(
            f"SELECT model, stage, {ANSWER_BYTES} FROM completions WHERE at < ? "
            "GROUP BY model, stage ORDER BY model, stage",
            (before.timestamp(),),
        ).fetchall()
    finally:
        connection.close()
    day = before.isoformat(sep=" ", timespec="minutes")
    return [
        Item(
            "requests",
            f"{model or '(model not recorded)'} / {stage or '(stage not recorded)'}",
            int(size),
            f"{count:,} answers stored before {day}",
        )
        for model, stage, count, size in rows
    ]


def delete_requests_before(root: Path, before: datetime) -> None:
    """Delete the request-cache answers stored before `before`, then VACUUM the file."""
    path = request_cache_path(root)
    if not path.exists():
        return
    connection = sqlite3.connect(path, timeout=60, isolation_level=None)
    try:
        if not _dated(connection):
            return
        connection.execute("DELETE FROM completions WHERE at < ?", (before.timestamp(),))
        connection.execute("VACUUM")
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()


def _dated(connection: sqlite3.Connection) -> bool:
    """Whether the answers have their storage time (not in a file from before it was recorded,
    which `RequestCache` upgrades when a run opens it: then its old rows read the upgrade time).
    Undated answers are never pruned by date."""
    columns = {row[1] for row in connection.execute("PRAGMA table_info(completions)")}
    return "at" in columns


def remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def format_result(result: PruneResult) -> str:
    """What went (or would go), one line per item, and the bytes freed."""
    verb = "would remove (dry run: nothing changed)" if result.dry_run else "removed"
    if not result.items:
        return "nothing to prune"
    rows = [
        (f"  {item.section}: {item.name}", format_bytes(item.bytes), item.note)
        for item in result.items
    ]
    width = max(len(name) for name, _, _ in rows)
    lines = [f"{verb}:"]
    lines += [f"{name:<{width}}  {size:>9}  {note}".rstrip() for name, size, note in rows]
    freed, total = format_bytes(result.freed_bytes), format_bytes(result.total_bytes)
    if result.dry_run:
        lines.append(f"would free about {freed} of {total}")
    else:
        lines.append(f"freed {freed}; the cache now holds {total}")
    return "\n".join(lines)

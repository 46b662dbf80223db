"""`reasonembed cache` on a large request cache: how long listing and pruning take.

Listing reads every answer once (their bytes per model and stage), and `--prune requests
--before DATE` deletes rows, then VACUUMs (rewrites the file). This fills a request cache with
`--answers` answers of `--chars` characters (three stages, half of them dated two days back),
then times the listing, the dry run and the prune of the older half, in a temporary folder.

    .venv/bin/python benchmarks/cache_command.py [--answers 200000] [--chars 2000]
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

from reasonembed.data.diskspace import format_bytes
from reasonembed.factory.cache_inventory import inventory
from reasonembed.factory.cache_prune import prune
from reasonembed.llms.request_cache import SCHEMA, request_cache_path

STAGES = ("query", "reasoning", "annotation")


def fill(cache_dir: Path, answers: int, chars: int) -> None:
    """`answers` rows as `RequestCache.put` stores them, in one transaction (fast to build)."""
    path = request_cache_path(cache_dir)
    old, now = time.time() - 2 * 86400, time.time()
    text = "x" * chars
    rows = (
        (
            f"{index:064x}",
            text,
            500,
            500,
            "openai:bench",
            STAGES[index % 3],
            old if index % 2 else now,
        )
        for index in range(answers)
    )
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode=WAL")  # as `RequestCache` opens it
    connection.execute(SCHEMA)
    connection.executemany("INSERT INTO completions VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    connection.commit()
    connection.close()


def timed(action):
    start = time.perf_counter()
    result = action()
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", type=int, default=200_000)
    parser.add_argument("--chars", type=int, default=2000)
    args = parser.parse_args()
    before = datetime.combine(date.today() - timedelta(days=1), datetime.min.time())
    with tempfile.TemporaryDirectory() as folder:
        cache_dir = Path(folder)
        _, fill_s = timed(lambda: fill(cache_dir, args.answers, args.chars))
        size = request_cache_path(cache_dir).stat().st_size
        listing, list_s = timed(lambda: inventory(cache_dir))
        dry, dry_s = timed(lambda: prune(cache_dir, None, ["requests"], before, dry_run=True))
        done, prune_s = timed(lambda: prune(cache_dir, None, ["requests"], before))
        after = request_cache_path(cache_dir).stat().st_size
    print(f"request cache: {args.answers:,} answers of {args.chars:,} characters")
    print("| step | seconds | result |")
    print("|---|---:|---|")
    print(f"| build (one transaction) | {fill_s:.1f} | {format_bytes(size)} file |")
    print(
        f"| list (`reasonembed cache DIR`) | {list_s:.1f} | {format_bytes(listing.total_bytes)} |"
    )
    print(
        f"| dry run of `--prune requests` | {dry_s:.1f} | {format_bytes(dry.freed_bytes)} to go |"
    )
    print(
        f"| prune older half + VACUUM | {prune_s:.1f} | freed {format_bytes(done.freed_bytes)}, "
        f"file {format_bytes(after)} |"
    )


if __name__ == "__main__":
    main()

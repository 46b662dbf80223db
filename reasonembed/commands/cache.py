"""`reasonembed cache CONFIG|DIR [--prune KIND ...] [--before DATE] [--dry-run] [--json]`: what is
in a cache_dir and how big (`reasonembed.factory.cache_inventory`), and reclaiming space
(`reasonembed.factory.cache_prune`: holds the cache lock, so nothing a running run holds is removed)."""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from pathlib import Path

from reasonembed.config import FactoryConfig, load_config, parse_config
from reasonembed.data.output_folder import OutputFolder
from reasonembed.errors import UserError
from reasonembed.factory.cache_inventory import format_listing, inventory, looks_like_cache
from reasonembed.factory.cache_lock import read_holder
from reasonembed.factory.cache_prune import PRUNE_KINDS, format_result, prune

EXAMPLES = (
    """examples:
  reasonembed cache pipelines/configs/demo.yaml          # the config's cache_dir, what it uses
  reasonembed cache .cache/reasonembed --json            # a cache_dir given directly, for scripts
  reasonembed cache out/demo                             # the cache of a generate output folder
  reasonembed cache CONFIG --prune step-outputs --dry-run
  reasonembed cache CONFIG --prune embeddings-not-in-config --prune seeds
  reasonembed cache CONFIG --prune requests --before 2026-01-31

prune kinds:
"""
    + "\n".join(f"  {kind:<26} {text}" for kind, text in PRUNE_KINDS.items())
    + """

Run markers, the lock, converted local models and corpus stores are never pruned. Pruning holds
the cache's lock: it is refused while a run uses the cache, and a run started during a prune is
refused. Sizes are apparent file sizes (1 kB = 1,000 bytes)."""
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EXAMPLES
    parser.add_argument(
        "target",
        metavar="CONFIG|DIR",
        help="a FactoryConfig YAML (its cache_dir; items say whether the config uses them), a "
        "cache_dir, or a `reasonembed generate` output folder (the cache_dir of its config.yaml)",
    )
    parser.add_argument(
        "--prune",
        action="append",
        choices=sorted(PRUNE_KINDS),
        metavar="KIND",
        help="remove what KIND names (repeatable; kinds below)",
    )
    parser.add_argument(
        "--before",
        metavar="DATE",
        help="with --prune requests: answers stored before DATE (YYYY-MM-DD or "
        "YYYY-MM-DDTHH:MM, local time) are removed",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="with --prune: say what would go, change nothing"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    if args.dry_run and not args.prune:
        raise UserError("--dry-run goes with --prune KIND: without --prune nothing is removed")
    cache_dir, config = resolve_target(Path(args.target))
    if not args.prune:
        listing = inventory(cache_dir, config)
        print(json.dumps(listing.to_json(), indent=2) if args.json else format_listing(listing))
        return 0
    before = parse_date(args.before) if args.before else None
    result = prune(cache_dir, config, args.prune, before=before, dry_run=args.dry_run)
    print(json.dumps(result.to_json(), indent=2) if args.json else format_result(result))
    if args.dry_run and not args.json:
        holder = read_holder(cache_dir)
        if holder is not None:
            print(f"note: held now by {holder.describe()}: --prune is refused until it ends")
    return 0


def resolve_target(target: Path) -> tuple[Path, FactoryConfig | None]:
    """(cache_dir, the config or None) of a config file, a generate output folder or a cache."""
    if target.is_file():
        config = load_config(target)
        return Path(config.cache_dir), config
    if not target.is_dir():
        raise UserError(f"{target}: no such file or folder; give a config YAML or a folder")
    output = OutputFolder(target)
    if output.config_path.is_file() and output.stats_path.is_file():
        config = parse_config(output.config, where=str(output.config_path))
        return Path(config.cache_dir), config
    if not looks_like_cache(target):
        raise UserError(
            f"{target}: neither a cache_dir (no requests.sqlite, distilabel/, embeddings/, "
            "seeds/ or models/) nor a generate output folder; give a config YAML or one of those"
        )
    return target, None


def parse_date(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise UserError(
            f"--before {text!r}: not a date; give YYYY-MM-DD or YYYY-MM-DDTHH:MM (local time)"
        ) from None

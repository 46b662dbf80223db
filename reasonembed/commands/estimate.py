"""`reasonembed estimate CONFIG`: projected LLM calls, tokens and cost (`reasonembed.factory.estimate`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from reasonembed.config import load_config
from reasonembed.factory.estimate import ASSUMED_DOCUMENT_CHARS, estimate, format_table


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="FactoryConfig YAML (see pipelines/configs/)")
    parser.add_argument(
        "--chars-per-token", type=float, default=4.0, help="characters per token (default 4)"
    )
    parser.add_argument(
        "--document-chars",
        type=int,
        default=None,
        help=f"mean document length to assume where a corpus cannot be read "
        f"(default {ASSUMED_DOCUMENT_CHARS})",
    )
    parser.add_argument(
        "--reask-rate",
        type=float,
        default=0.05,
        help="expected share of answers asked again (default 0.05)",
    )
    parser.add_argument("--json", default=None, help="also write the estimate to this JSON file")


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    from reasonembed.factory.preflight import preflight  # corpora decoded; no key or server needed

    preflight(config, None, overwrite=False, probe_servers=False, check_keys=False)
    result = estimate(
        config,
        chars_per_token=args.chars_per_token,
        document_chars=args.document_chars,
        reask_rate=args.reask_rate,
    )
    print(format_table(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0

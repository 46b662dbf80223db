"""`reasonembed generate CONFIG --output DIR`: run the factory (`reasonembed.factory.generate`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from reasonembed.config import load_config
from reasonembed.factory.generate import generate


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="FactoryConfig YAML (see pipelines/configs/)")
    parser.add_argument("--output", "-o", required=True, help="output folder (created)")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an output folder that holds something else; the new folder is built "
        "beside it and renamed into place. Not needed to re-run into an earlier run of the same "
        "config: that adds to it (stats.json keeps every run's LLM usage, report/ is rewritten, "
        "validation/ and other added files are kept)",
    )
    parser.add_argument(
        "--ray",
        nargs="?",
        const="",
        default=None,
        metavar="ADDRESS",
        help="run on a Ray cluster (sets engine.kind ray): ADDRESS as `ray start --head` printed "
        "it, or none for the cluster started on this machine (else a new local Ray instance)",
    )
    parser.add_argument(
        "--no-cache",
        action="store_true",
        help="ignore distilabel's step cache (the LLM request cache still applies)",
    )
    parser.add_argument(
        "--keep-step-outputs",
        action="store_true",
        help="keep distilabel's step outputs under CACHE_DIR/distilabel after a complete run "
        "(by default they are removed: the output folder holds the data, and the request cache "
        "makes a re-run cheap)",
    )


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    if args.ray is not None:
        engine = config.engine.model_copy(update={"kind": "ray", "address": args.ray or None})
        config = config.model_copy(update={"engine": engine})
    stats = generate(
        config,
        Path(args.output),
        use_cache=not args.no_cache,
        overwrite=args.overwrite,
        keep_step_outputs=args.keep_step_outputs,
    )
    return 0 if stats.samples else 1

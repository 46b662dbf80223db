"""`reasonembed dump-pipeline CONFIG --output pipelines/remixer.yaml`: write the distilabel
pipeline of a FactoryConfig as YAML, for `distilabel pipeline run --config FILE`."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import yaml

from reasonembed.config import load_config

logger = logging.getLogger("reasonembed.dump_pipeline")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="FactoryConfig YAML")
    parser.add_argument("--output", "-o", required=True, help="where to write the pipeline YAML")


def run(args: argparse.Namespace) -> int:
    from reasonembed.factory.pipeline import build_pipeline

    pipeline = build_pipeline(load_config(args.config))
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(yaml.safe_dump(pipeline.dump(), sort_keys=False), encoding="utf-8")
    logger.info(
        "wrote %s (run it with: distilabel pipeline run --config %s)", args.output, args.output
    )
    return 0

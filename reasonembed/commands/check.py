"""`reasonembed check CONFIG`: checks before any paid request (`reasonembed.config_check`)."""

from __future__ import annotations

import argparse

from reasonembed.config import load_config
from reasonembed.config_check import check
from reasonembed.errors import UserError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="FactoryConfig YAML (see pipelines/configs/)")
    parser.add_argument(
        "--strict",
        action="store_true",
        help="fail when something could not be verified (server down, Hub unreachable)",
    )


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    lines, warnings = check(config)
    print(f"config {args.config}: valid")
    for line in lines:
        print(line)
    if warnings:
        print("not verified (or without effect):")
        for warning in warnings:
            print(f"  - {warning}")
    if warnings and args.strict:
        raise UserError(
            f"{args.config}: {len(warnings)} item(s) could not be verified (--strict): "
            f"{warnings[0]}"
        )
    print(f"check passed, {len(warnings)} warning(s)")
    return 0

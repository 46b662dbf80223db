"""`reasonembed check CONFIG`: checks before any paid request (`reasonembed.factory.check`).

The last line is the verdict: `check passed, N warning(s)`; `check passed with --offline, NOT
verified: ...` (exit 0, naming each server, role and model left unverified); or
`check FAILED: ...` (exit 1) when a server did not answer (without `--offline`), or when
something else could not be verified under `--strict`. A real problem (a bad corpus, a server
that refuses the model) stops earlier with one error line.
"""

from __future__ import annotations

import argparse

from reasonembed.config import load_config
from reasonembed.factory.check import CheckReport, check


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="FactoryConfig YAML (see pipelines/configs/)")
    parser.add_argument(
        "--offline",
        action="store_true",
        help="the LLM servers are not up yet: check everything else, and pass while naming the "
        "servers and models left unverified",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="also fail when something else could not be verified (a Hub model or dataset "
        "while the Hub is unreachable)",
    )


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    report = check(config)
    print(f"config {args.config}: valid")
    for line in report.lines:
        print(line)
    not_verified = [str(server) for server in report.unanswered] + report.warnings
    if not_verified:
        print("not verified (or without effect):")
        for item in not_verified:
            print(f"  - {item}")
    line, status = verdict(report, offline=args.offline, strict=args.strict)
    print(line)
    return status


def verdict(report: CheckReport, offline: bool, strict: bool) -> tuple[str, int]:
    """(the last line, the exit status) of `check`."""
    servers = ", ".join(f"{s.role} model {s.model!r} at {s.url}" for s in report.unanswered)
    count = len(report.unanswered)
    if report.unanswered and not offline:
        return (
            f"check FAILED: {count} server(s) did not answer ({servers}): start them and run "
            "check again, or pass --offline to check everything else",
            1,
        )
    if report.warnings and strict:
        return (
            f"check FAILED (--strict): {len(report.warnings)} item(s) not verified, the first: "
            f"{report.warnings[0]}",
            1,
        )
    if report.unanswered:
        return (
            f"check passed with --offline, NOT verified (server did not answer): {servers}; "
            f"{len(report.warnings)} other warning(s)",
            0,
        )
    return f"check passed, {len(report.warnings)} warning(s)", 0

"""`reasonembed report DIR [--output OUT] [--browse-limit N]`: report.md, plots and the sample
browser of a `reasonembed generate` output folder (reasonembed.quality.report)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from reasonembed.quality.browse import BROWSER_FILE, DEFAULT_BROWSE_LIMIT
from reasonembed.quality.report import PLOT_FILES, write_report

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", type=Path, help="a `reasonembed generate` output folder")
    parser.add_argument(
        "--output", type=Path, default=None, help="where to write (default: DIR/report)"
    )
    parser.add_argument(
        "--browse-limit",
        type=int,
        default=DEFAULT_BROWSE_LIMIT,
        help="queries per domain in the sample browser, report/index.html (a deterministic "
        f"sample; default {DEFAULT_BROWSE_LIMIT})",
    )


def run(args: argparse.Namespace) -> int:
    report = write_report(args.dir, args.output, args.browse_limit)
    logger.info(
        "wrote %s, %d plots and the sample browser %s",
        report,
        len(PLOT_FILES),
        report.parent / BROWSER_FILE,
    )
    return 0

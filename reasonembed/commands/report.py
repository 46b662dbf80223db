"""`reasonembed report DIR [--output OUT] [--browse-limit N]`: report.md, plots and the sample
browser of a `reasonembed generate` output folder (reasonembed.quality.report). The report
folder is replaced as a whole: a full disk, Ctrl-C or SIGTERM leaves the previous one intact
and ends with one line (exit 1, 130 or 143)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from reasonembed.data.output_folder import OutputFolder
from reasonembed.interrupts import sigterm_as_interrupt, with_message
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
    output = args.output if args.output is not None else OutputFolder(args.dir).report_dir
    with sigterm_as_interrupt():
        try:
            report = write_report(args.dir, output, args.browse_limit)
        except KeyboardInterrupt as stop:
            raise with_message(
                stop,
                f"report interrupted: {output} is as it was (nothing half-written is left); "
                "run the same command again to write it",
            ) from None
    logger.info(
        "wrote %s, %d plots and the sample browser %s",
        report,
        len(PLOT_FILES),
        report.parent / BROWSER_FILE,
    )
    return 0

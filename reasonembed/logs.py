"""Logging set-up of the `reasonembed` command.

distilabel replaces the root logger's handlers while a pipeline runs (a queue feeding its worker
processes) and closes that queue at the end; `configure_logging` is called again afterwards so the
command's own closing lines reach the terminal.
"""

from __future__ import annotations

import logging

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format=FORMAT,
        datefmt="%H:%M:%S",
        force=True,
    )

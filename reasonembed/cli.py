"""The `reasonembed` command.

Each sub-command lives in the module of its area and exposes `add_arguments(parser)` and
`run(args) -> int`. Modules are imported only when their command runs, so `--help` is fast and
nothing touches torch before a distilabel pipeline forks its workers.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import warnings

from pydantic.warnings import UnsupportedFieldAttributeWarning

from reasonembed.errors import UserError
from reasonembed.logs import configure_logging

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "generate": ("reasonembed.commands.generate", "run the ReMixer factory on a config"),
    "dump-pipeline": (
        "reasonembed.commands.dump_pipeline",
        "write the distilabel pipeline.yaml of a config",
    ),
    "estimate": ("reasonembed.commands.estimate", "project LLM calls, tokens and cost of a config"),
    "report": ("reasonembed.quality.report", "write report.md and plots for a generate output"),
    "publish": ("reasonembed.hub.command", "publish a generate output as a versioned Hub release"),
    "train": ("reasonembed.train.command", "train an embedding model with Redapter"),
    "eval": ("reasonembed.eval.command", "evaluate a model on BRIGHT"),
    "eval-run": ("reasonembed.eval.run_command", "score a TREC run file on BRIGHT"),
    "validate": ("reasonembed.validate", "train, evaluate and compare models on a dataset"),
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reasonembed",
        description="ReMixer synthetic data factory for reasoning-intensive retrieval.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        if name == only:
            importlib.import_module(module_name).add_arguments(command_parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    # distilabel 1.5.3 declares a field pydantic 2.14 warns about on every import: not ours to fix
    warnings.filterwarnings("ignore", category=UnsupportedFieldAttributeWarning)
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((arg for arg in argv if arg in COMMANDS), None)
    args = build_parser(only=command).parse_args(argv)
    if args.command is None:
        build_parser().print_help()
        return 2
    configure_logging(args.verbose)
    module = importlib.import_module(COMMANDS[args.command][0])
    try:
        return int(module.run(args) or 0)
    except UserError as error:
        logging.getLogger("reasonembed").error("%s", error)
        return 1


if __name__ == "__main__":
    sys.exit(main())

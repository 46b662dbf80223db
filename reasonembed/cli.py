"""The `reasonembed` command.

Each sub-command is a module of `reasonembed.commands` exposing `add_arguments(parser)` and
`run(args) -> int`: its options, and a call into the library module of its area. Modules are
imported only when their command runs, so `--help` is fast and nothing touches torch before a
distilabel pipeline forks its workers.

Errors end the command with exit status 1 and ONE log line: a `UserError` says what to fix;
any other exception is reported as `TYPE: message (run with -v for the traceback)`. The full
traceback is printed only with `-v/--verbose`, which works before or after the sub-command.
Progress bars are drawn only when stderr is a terminal (`reasonembed.logs.bars_off_terminal`);
a log file gets one progress line every REASONEMBED_PROGRESS_EVERY_S seconds instead.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import warnings

from pydantic.warnings import UnsupportedFieldAttributeWarning

from reasonembed.errors import UserError
from reasonembed.interrupts import exit_status
from reasonembed.logs import bars_off_terminal, configure_logging

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "init": (
        "reasonembed.commands.init",
        "write a commented config for a domain of your own (corpus + server)",
    ),
    "generate": ("reasonembed.commands.generate", "run the ReMixer factory on a config"),
    "check": (
        "reasonembed.commands.check",
        "check a config, its corpora, servers and models before any paid request",
    ),
    "dump-pipeline": (
        "reasonembed.commands.dump_pipeline",
        "write the distilabel pipeline.yaml of a config",
    ),
    "estimate": ("reasonembed.commands.estimate", "project LLM calls, tokens and cost of a config"),
    "cache": (
        "reasonembed.commands.cache",
        "list what a cache_dir holds and how big, and prune it",
    ),
    "report": ("reasonembed.commands.report", "write report.md and plots for a generate output"),
    "audit": ("reasonembed.commands.audit", "human audit of the LLM judge: sample, score"),
    "publish": (
        "reasonembed.commands.publish",
        "publish a generate output as a versioned Hub release",
    ),
    "train": ("reasonembed.commands.train", "train an embedding model with Redapter"),
    "eval": ("reasonembed.commands.eval", "evaluate a model on BRIGHT"),
    "eval-run": ("reasonembed.commands.eval_run", "score a TREC run file on BRIGHT"),
    "validate": (
        "reasonembed.commands.validate",
        "train, evaluate and compare models on a dataset",
    ),
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reasonembed",
        description="ReMixer synthetic data factory for reasoning-intensive retrieval.",
    )
    verbose_help = "debug logging, and the full traceback of an error"
    parser.add_argument("-v", "--verbose", action="store_true", help=verbose_help)
    # the same flag after the sub-command; SUPPRESS keeps a -v given before it
    after = argparse.ArgumentParser(add_help=False)
    after.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help=verbose_help
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        command_parser = sub.add_parser(
            name, help=help_text, description=help_text, parents=[after]
        )
        if name == only:
            importlib.import_module(module_name).add_arguments(command_parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    # distilabel 1.5.3 declares a field pydantic 2.14 warns about on every import: not ours to fix
    warnings.filterwarnings("ignore", category=UnsupportedFieldAttributeWarning)
    bars_off_terminal()  # before a command module imports tqdm; child processes inherit it
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((arg for arg in argv if arg in COMMANDS), None)
    args = build_parser(only=command).parse_args(argv)
    if args.command is None:
        build_parser().print_help()
        return 2
    configure_logging(args.verbose)
    logger = logging.getLogger("reasonembed")
    try:
        module = importlib.import_module(COMMANDS[args.command][0])
        return int(module.run(args) or 0)
    except KeyboardInterrupt as stop:  # Ctrl-C, or SIGTERM as reasonembed.interrupts.Terminated
        logger.error("%s", one_line(stop) if str(stop) else "interrupted")
        return exit_status(stop)
    except UserError as error:
        logger.error("%s", one_line(error), exc_info=args.verbose)
        return 1
    except Exception as error:  # noqa: BLE001  (the user sees one line; -v shows the traceback)
        if args.verbose:
            logger.error("%s: %s", type(error).__name__, one_line(error), exc_info=True)
        else:
            logger.error(
                "%s: %s (run with -v for the traceback)", type(error).__name__, one_line(error)
            )
        return 1


def one_line(error: BaseException, limit: int = 1000) -> str:
    """The error's message on one line (whitespace collapsed), cut at `limit` characters."""
    text = " ".join(str(error).split()) or repr(error)
    return text if len(text) <= limit else text[: limit - 3] + "..."


if __name__ == "__main__":
    sys.exit(main())

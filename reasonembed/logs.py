"""Logging set-up of the `reasonembed` command.

distilabel replaces the root logger's handlers while a pipeline runs (a queue feeding its worker
processes) and closes that queue at the end; `configure_logging` is called again afterwards: it
drops such queue handlers and makes sure the command's own lines reach the terminal. Handlers
that someone else installed (pytest's capture, an application's) are left in place.
"""

from __future__ import annotations

import logging
from logging.handlers import QueueHandler

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# libraries whose INFO lines say nothing a user needs: faiss reports which CPU build it tried;
# the HTTP clients log one line per request (openai>=3 sends through `httpx2`, others `httpx`)
QUIET_LOGGERS = ("faiss", "httpx", "httpx2", "httpcore", "httpcore2", "urllib3", "bm25s")


def quiet_third_party_loggers() -> None:
    """Set QUIET_LOGGERS to WARNING in this process (the CLI, and every step process: LLMs call
    it in `load`, since distilabel runs steps in processes of their own)."""
    for noisy in QUIET_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _no_weight_loading_bar(factory, args, kwargs):
    if kwargs.get("desc") == "Loading weights":
        kwargs = {**kwargs, "disable": True}
    return factory(*args, **kwargs)


def quiet_model_loading() -> None:
    """No "Loading weights" bar per model transformers loads (a step's model is loaded in every
    step process, each printing one); the Hub's download bars stay. Call where transformers is
    imported anyway (this imports it)."""
    from transformers.utils import logging as hf_logging

    set_hook = getattr(hf_logging, "set_tqdm_hook", None)  # transformers >= 5
    if set_hook is not None:
        set_hook(_no_weight_loading_bar)


def configure_logging(verbose: bool = False) -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, QueueHandler):
            root.removeHandler(handler)
    logging.basicConfig(format=FORMAT, datefmt="%H:%M:%S")  # no-op when handlers remain
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    quiet_third_party_loggers()

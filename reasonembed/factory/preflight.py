"""Checks run before the first paid request (`generate`, `estimate`, `check`).

`preflight(config, output, overwrite)` raises `UserError` with ONE line on the first problem:

1. the output target (`output`): a file, a folder under a file, an unwritable place, or a
   non-empty folder that does not hold an earlier run of this same config is refused (the
   latter unless `overwrite`; `generate` then replaces the folder as a whole); a folder holding
   an earlier run of this config (same config hash) is "same-run": `generate` re-runs into it
   and keeps its record (reasonembed.factory.generate);
2. each LLM role's `api_key_env` (openai backend): unset or empty; a value that looks like a key
   is never echoed;
3. every corpus is read and validated as `generate` will read it (fields, duplicate ids, bytes
   that are not UTF-8 named by file, line and byte offset), streamed: the texts are not kept;
4. each openai server is probed once (`GET {base_url}/models`, a few seconds): any HTTP answer
   means reachable; a refused or timed-out connection stops here, naming the role and URL.

What cannot be verified without the network (a corpus on the Hub while the Hub is unreachable)
is returned in `PreflightReport.warnings`, not raised: `check` lists it, `generate` stops later
with its own error if the Hub is still unreachable. Nothing here imports torch (`generate`
runs this in the parent process, before distilabel forks its workers).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from reasonembed.bright.data import HUB_REPO
from reasonembed.config import FactoryConfig, LLMConfig, config_hash, parse_config
from reasonembed.data.corpus import on_hub, scan_corpus
from reasonembed.data.output_folder import OutputFolder
from reasonembed.data.records import CONFIG_FILE, STATS_FILE
from reasonembed.errors import UserError
from reasonembed.network import HubAccess, probe_server

logger = logging.getLogger("reasonembed.factory.preflight")

RUN_MARKERS = (STATS_FILE, CONFIG_FILE, "raw")  # what an earlier generate output holds


@dataclass
class PreflightReport:
    """What preflight saw.

    documents: domain -> documents read and validated (absent: not verified, see warnings).
    servers: base URL -> roles using it, for the servers that answered the probe.
    output_state: "none" (no output given), "new" (absent or empty folder), "same-run" (holds
        an earlier run of this very config), "replace" (holds other files; --overwrite given).
    warnings: what could not be verified offline, and settings that have no effect.
    """

    documents: dict[str, int] = field(default_factory=dict)
    servers: dict[str, list[str]] = field(default_factory=dict)
    output_state: str = "none"
    warnings: list[str] = field(default_factory=list)


def roles(config: FactoryConfig) -> list[tuple[str, LLMConfig]]:
    """The LLM roles of a config (the domain filter uses the generator)."""
    return [("generator", config.generator), ("annotator", config.annotator)]


def preflight(
    config: FactoryConfig,
    output: Path | None,
    overwrite: bool,
    probe_servers: bool = True,
    check_keys: bool = True,
) -> PreflightReport:
    """Run the checks of the module doc in order; UserError (one line) on the first problem."""
    report = PreflightReport()
    if output is not None:
        report.output_state = check_output(Path(output), overwrite, config)
    if check_keys:
        check_api_keys(config, report)
    check_corpora(config, report)
    if probe_servers:
        for url, names in servers(config).items():
            problem = probe_server(url)
            if problem:
                raise UserError(f"{'/'.join(names)}: server {url} unreachable: {problem}")
            report.servers[url] = names
    return report


# --- output -------------------------------------------------------------------------------
def check_output(output: Path, overwrite: bool, config: FactoryConfig) -> str:
    """The state of the output target (see PreflightReport.output_state); UserError if refused."""
    output = output.expanduser()
    if output.exists() and not output.is_dir():
        raise UserError(f"{output}: --output is a file; give a folder (new or empty)")
    existing = next(parent for parent in (output, *output.parents) if parent.exists())
    if not existing.is_dir():
        raise UserError(f"{output}: --output is under {existing}, which is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(f"{output}: cannot write to {existing} (permission denied)")
    if existing != output or not any(output.iterdir()):
        return "new"
    if _holds_run_of(output, config):
        return "same-run"
    if overwrite:
        _refuse_replacing_inputs(output, config)
        return "replace"
    markers = [name for name in RUN_MARKERS if (output / name).exists()]
    if markers:
        raise UserError(
            f"{output}: holds the output of another run ({', '.join(markers)}); "
            "pass --overwrite to replace it, or choose another --output"
        )
    entries = sorted(path.name for path in output.iterdir())
    raise UserError(
        f"{output}: folder is not empty ({len(entries)} entries, e.g. {entries[0]!r}); "
        "pass --overwrite to replace it, or choose another --output"
    )


def _holds_run_of(folder: Path, config: FactoryConfig) -> bool:
    """True when `folder` holds an earlier output of this config (same config hash)."""
    digest = config_hash(config)
    earlier = OutputFolder(folder)
    recorded = earlier.recorded_config_hash()
    if recorded is not None:
        return recorded == digest
    try:
        return config_hash(parse_config(earlier.config)) == digest
    except Exception:  # noqa: BLE001  (an unreadable earlier config is simply another run)
        return False


def _refuse_replacing_inputs(output: Path, config: FactoryConfig) -> None:
    """--overwrite replaces the folder as a whole: never one holding the inputs or the caches."""
    target = output.resolve()
    protected = {"the current folder": Path.cwd(), "cache_dir": Path(config.cache_dir)}
    for run in config.domains:
        if run.corpus.format != "python-docs" and not on_hub(run.corpus):
            protected[f"the corpus of {run.domain}"] = Path(run.corpus.path)
    if config.bright and config.bright != "hub":
        protected["the BRIGHT folder"] = Path(config.bright)
    for what, path in protected.items():
        path = path.expanduser().resolve()
        if path == target or target in path.parents:
            raise UserError(
                f"{output}: --overwrite would replace {what} ({path}); choose another --output"
            )


# --- API keys ------------------------------------------------------------------------------
def looks_like_key(name: str) -> bool:
    """A valid variable name that is more likely a pasted key (long, mixed case with digits)."""
    return (
        not name.isupper()
        and len(name) >= 16
        and any(ch.isdigit() for ch in name)
        and any(ch.islower() for ch in name)
    )


def check_api_keys(config: FactoryConfig, report: PreflightReport) -> None:
    """UserError when an openai role's `api_key_env` is unset or empty (names that look like a
    key are not echoed)."""
    for role, llm in roles(config):
        if llm.api_key_env is None:
            continue
        if llm.backend != "openai":
            report.warnings.append(
                f"{role}: api_key_env is ignored by backend {llm.backend} (only openai reads it)"
            )
            continue
        if os.environ.get(llm.api_key_env, "").strip():
            continue
        if looks_like_key(llm.api_key_env):
            raise UserError(
                f"{role}: api_key_env holds what looks like an API key, not the name of a set "
                "environment variable: remove it from the config (revoke it if the file was "
                "shared), export the key in a variable and write that variable's name here"
            )
        state = "is empty" if llm.api_key_env in os.environ else "is not set"
        raise UserError(
            f"{role}: api_key_env {llm.api_key_env} {state}: export {llm.api_key_env}=<your key> "
            "(or remove api_key_env for a server without keys)"
        )


# --- corpora -------------------------------------------------------------------------------
def check_corpora(config: FactoryConfig, report: PreflightReport) -> None:
    """Read and validate every corpus (streamed); a Hub corpus while the Hub is unreachable is
    a warning."""
    hub = HubAccess()
    unverified: dict[str, list[str]] = {}  # Hub dataset -> domains
    for run in config.domains:
        source = run.corpus
        if on_hub(source) and hub.problem:
            where = HUB_REPO if source.format == "bright" else source.path
            unverified.setdefault(where, []).append(run.domain)
            continue
        try:
            count = scan_corpus(source, run.domain)
        except OSError as error:
            raise UserError(f"corpus of {run.domain}: {source.path}: {error}") from None
        report.documents[run.domain] = count
        logger.info("corpus of %s: %d documents checked (%s)", run.domain, count, source.path)
    for where, domains in unverified.items():
        report.warnings.append(
            f"corpus of {', '.join(domains)}: {where} on the Hub not verified ({hub.problem})"
        )
    if config.bright == "hub" and hub.problem:
        report.warnings.append(
            f"bright: hub: the BRIGHT test queries on the Hub not verified ({hub.problem})"
        )


# --- servers -------------------------------------------------------------------------------
def servers(config: FactoryConfig) -> dict[str, list[str]]:
    """openai base URLs -> the roles that use them."""
    found: dict[str, list[str]] = {}
    for role, llm in roles(config):
        if llm.backend == "openai":
            for url in llm.base_urls:
                found.setdefault(url, []).append(role)
    return found

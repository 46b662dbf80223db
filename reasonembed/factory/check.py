"""Everything `generate` needs, checked before any paid request (`reasonembed check`).

`check(config)` takes a config already validated by `load_config` (enums, ranges, files) and
returns a `CheckReport`, or raises `UserError` with one line on the first real problem.
In order: the preflight checks (`reasonembed.factory.preflight`: API keys, every corpus read and
decoded), the distilabel pipeline built exactly as `generate` builds it (no weights are loaded),
one 1-token chat request to each configured openai server that answers (with the role's model
and sampling settings, so a wrong model id, key or setting shows here), and the models: bundled
aliases and local folders resolved, Hub ids looked up in the local cache (or on the Hub when it
answers).

A server that does not answer is reported apart (`CheckReport.unanswered`): `reasonembed check`
fails on it unless the user says the servers are not up yet (`--offline`). A server that answers
but refuses the model, key or settings is an error. What else could not be verified from here
(a Hub model or dataset while the Hub is unreachable) is a warning: the command prints the
warnings, and fails on them only with `--strict`.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import NamedTuple

from reasonembed.config import FactoryConfig, LLMConfig
from reasonembed.errors import UserError
from reasonembed.factory.preflight import preflight, roles, servers
from reasonembed.network import HubAccess, probe_server

REQUEST_TIMEOUT_S = 60.0


@dataclass
class CheckReport:
    """lines: what was verified; warnings: what could not be verified (or has no effect), the
    servers aside; unanswered: one line per role and server that did not answer (its model and
    key not verified)."""

    lines: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    unanswered: list[Unanswered] = field(default_factory=list)


class Unanswered(NamedTuple):
    """A role's server that did not answer the probe."""

    role: str
    url: str
    model: str
    problem: str
    key: bool  # the role has an api_key_env (not verified either)

    def __str__(self) -> str:
        key = " and the key" if self.key else ""
        return (
            f"{self.role}: server {self.url} did not answer ({self.problem}); "
            f"model {self.model!r}{key} not verified"
        )


def check(config: FactoryConfig) -> CheckReport:
    """What was verified and what was not; UserError (one line) on the first real problem."""
    preflight_report = preflight(config, None, overwrite=False, probe_servers=False)
    report = CheckReport(warnings=list(preflight_report.warnings))
    report.lines = [
        f"corpus of {domain}: {count:,} documents read and valid"
        for domain, count in preflight_report.documents.items()
    ]
    report.lines.append(f"pipeline: {', '.join(build_steps(config))}")
    for url, names in servers(config).items():
        problem = probe_server(url)
        for role, llm in roles(config):
            if role not in names:
                continue
            if problem:
                report.unanswered.append(
                    Unanswered(role, url, llm.model, problem, bool(llm.api_key_env))
                )
                continue
            one_token_request(role, url, llm, config.seed)
            report.lines.append(f"{role}: {url} answered a 1-token request for model {llm.model!r}")
    model_lines, model_warnings = check_models(config)
    report.lines += model_lines
    report.warnings += model_warnings
    return report


def build_steps(config: FactoryConfig) -> list[str]:
    """Build the pipeline as `generate` does (no weights loaded); the names of its steps."""
    from reasonembed.factory.pipeline import build_pipeline

    try:
        pipeline = build_pipeline(config)
    except UserError:
        raise
    except Exception as error:  # noqa: BLE001  (a step that refuses its settings: one line)
        message = " ".join(str(error).split())[:300]
        raise UserError(
            f"building the pipeline failed: {type(error).__name__}: {message}"
        ) from None
    return list(pipeline.dag)


def one_token_request(role: str, url: str, llm: LLMConfig, seed: int) -> None:
    """One chat completion of at most 1 token, shaped as the openai backend sends them."""
    body: dict = {
        "model": llm.model,
        "messages": [{"role": "user", "content": "Reply with OK."}],
        "max_tokens": 1,
        "temperature": llm.temperature,
        "top_p": llm.top_p,
        "seed": seed,
    }
    if llm.top_k:
        body["top_k"] = llm.top_k
    if getattr(llm, "chat_template_kwargs", None):
        body["chat_template_kwargs"] = llm.chat_template_kwargs
    headers = {"Content-Type": "application/json"}
    if llm.api_key_env:
        headers["Authorization"] = f"Bearer {os.environ.get(llm.api_key_env, '')}"
    request = urllib.request.Request(
        url.rstrip("/") + "/chat/completions",
        data=json.dumps(body).encode(),
        headers=headers,
        method="POST",
    )
    try:
        with urllib.request.urlopen(
            request, timeout=min(llm.timeout_s, REQUEST_TIMEOUT_S)
        ) as answer:
            data = json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as error:
        detail = " ".join(error.read(300).decode("utf-8", "replace").split())
        raise UserError(
            f"{role}: {url} answered HTTP {error.code} to a 1-token request for model "
            f"{llm.model!r}: {detail}"
        ) from None
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise UserError(
            f"{role}: {url}: a 1-token request for model {llm.model!r} failed: "
            f"{type(error).__name__}: {error}"
        ) from None
    if not isinstance(data, dict) or not data.get("choices"):
        raise UserError(
            f"{role}: {url} answered a 1-token request without `choices`: not an "
            "OpenAI-compatible chat-completions server?"
        )


def check_models(config: FactoryConfig) -> tuple[list[str], list[str]]:
    """Resolve the models loaded in-process (mining retriever, local and vllm LLMs)."""
    from reasonembed.llms.local_model import LOCAL_MODEL_NAME, gguf_path

    wanted = [("mining.retriever", config.mining.retriever)]
    lines: list[str] = []
    for role, llm in roles(config):
        if llm.backend == "local" and llm.model == LOCAL_MODEL_NAME:
            lines.append(f"{role}: bundled {LOCAL_MODEL_NAME} ({gguf_path()})")
        elif llm.backend in ("local", "vllm"):
            wanted.append((f"{role}.model", llm.model))
    warnings: list[str] = []
    hub = HubAccess()
    for key, name in dict.fromkeys(wanted):
        line, warning = model_status(key, name, hub)
        if line:
            lines.append(line)
        if warning:
            warnings.append(warning)
    return lines, warnings


def model_status(key: str, name: str, hub: HubAccess) -> tuple[str | None, str | None]:
    """(report line, warning) for one model; UserError when it cannot exist."""
    from reasonembed.retrieval.models import local_model_status

    state, detail = local_model_status(name)
    if state == "missing":
        raise UserError(f"{key}: {detail}")
    if state != "hub":
        return f"{key}: {name} ({state}: {detail})", None
    if hub.problem:
        return None, f"{key}: Hub model {name} not in the local cache, not verified ({hub.problem})"
    from huggingface_hub import HfApi
    from huggingface_hub.errors import RepositoryNotFoundError

    try:
        HfApi().model_info(name)
    except RepositoryNotFoundError:
        raise UserError(f"{key}: {name}: no such model on the Hub (or it is private)") from None
    except Exception as error:  # noqa: BLE001  (the Hub answered oddly: not verified)
        return None, f"{key}: Hub model {name} not verified ({type(error).__name__})"
    return f"{key}: {name} (on the Hub; downloaded when first loaded)", None

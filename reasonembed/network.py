"""Reachability of HTTP servers and of the Hugging Face Hub, asked once with a short timeout.

Used before anything long starts (preflight, `check`, reading a corpus from the Hub), so an
unreachable server is reported in seconds, not after a client's minutes of retries.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from functools import cached_property

PROBE_TIMEOUT_S = 3.0


def probe_server(
    base_url: str, path: str = "/models", timeout_s: float | None = None
) -> str | None:
    """GET `{base_url}{path}` once (timeout: `timeout_s`, default PROBE_TIMEOUT_S): None when
    any HTTP answer comes back (even an error status), else the connection problem in one line
    (e.g. "ConnectionRefusedError: [Errno 111] Connection refused")."""
    url = base_url.rstrip("/") + path
    try:
        with urllib.request.urlopen(url, timeout=timeout_s or PROBE_TIMEOUT_S) as response:
            response.read(0)
    except urllib.error.HTTPError:
        return None
    except urllib.error.URLError as error:
        reason = error.reason
        name = type(reason).__name__ if isinstance(reason, BaseException) else "URLError"
        return f"{name}: {reason}"
    except (OSError, ValueError) as error:  # timeouts, resets, malformed answers
        return f"{type(error).__name__}: {error or 'no answer'}"
    return None


def hub_unreachable(timeout_s: float | None = None) -> str | None:
    """Why the Hugging Face Hub cannot be reached (offline mode, no answer), or None."""
    from huggingface_hub import constants

    flag = os.environ.get("HF_HUB_OFFLINE", "").strip().upper()
    if constants.HF_HUB_OFFLINE or flag in {"1", "ON", "YES", "TRUE"}:
        return "HF_HUB_OFFLINE is set"
    problem = probe_server(constants.ENDPOINT, path="", timeout_s=timeout_s)
    return f"{constants.ENDPOINT} unreachable: {problem}" if problem else None


class HubAccess:
    """Whether the Hub answers, asked at most once (`problem`: None when it does)."""

    @cached_property
    def problem(self) -> str | None:
        return hub_unreachable()

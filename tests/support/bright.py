"""The real BRIGHT test queries beside the repository (../shared/bright; never committed here),
and the mark that skips a test when they are absent."""

from pathlib import Path

import pytest

SHARED_BRIGHT = Path(__file__).resolve().parents[3] / "shared" / "bright"
needs_bright = pytest.mark.skipif(
    not (SHARED_BRIGHT / "examples").is_dir(), reason="../shared/bright is absent"
)

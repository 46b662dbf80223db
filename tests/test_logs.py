"""What a newcomer's console shows: no third-party DEBUG lines, no bar per model load."""

from __future__ import annotations

import logging


def test_bm25s_logger_is_quiet_once_imported():
    """bm25s sets its own logger to DEBUG when imported (one line per index built)."""
    import reasonembed.retrieval.bm25  # noqa: F401

    assert logging.getLogger("bm25s").level >= logging.WARNING


def test_no_loading_weights_bar_but_other_bars_stay():
    from transformers.utils.logging import is_progress_bar_enabled, tqdm

    from reasonembed.logs import quiet_model_loading

    quiet_model_loading()
    loading = tqdm(range(2), desc="Loading weights")
    other = tqdm(range(2), desc="Downloading")
    try:
        assert getattr(loading, "disable", True)
        if is_progress_bar_enabled():  # HF_HUB_DISABLE_PROGRESS_BARS turns every bar off
            assert not other.disable
    finally:
        loading.close()
        other.close()

"""What a newcomer's console shows: no third-party DEBUG lines, no bar per model load; bars
only on a terminal, periodic progress lines in a log."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
import time


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


def _progress_logger(name: str) -> tuple[logging.Logger, list[str]]:
    """A logger of our own that keeps the messages (the command's set-up, `configure_logging`,
    may have made `reasonembed.progress` stop propagating to pytest's capture)."""
    lines: list[str] = []
    logger = logging.getLogger(f"tests.progress.{name}")
    logger.setLevel(logging.INFO)
    logger.propagate = False

    class Keep(logging.Handler):
        def emit(self, record):
            lines.append(record.getMessage())

    logger.handlers = [Keep()]
    return logger, lines


def test_progress_off_a_terminal_is_periodic_lines_with_rate_and_eta():
    from reasonembed.logs import Progress

    logger, lines = _progress_logger("lines")
    progress = Progress("judgements", 4000, logger=logger, every_s=0.5)
    assert progress.logs_lines  # pytest's stderr is no terminal
    for _ in range(3):  # a stage waiting for its input writes nothing
        progress.set(0)
        time.sleep(0.1)
    assert lines == []
    progress.update(1200)  # before every_s: no line yet
    time.sleep(0.3)
    progress.update(1)
    progress.set_postfix(loss="0.4123")
    progress.update(0)  # no move since the last line: no new line
    progress.update(999)
    progress.close()
    assert len(lines) == 2, lines
    assert re.fullmatch(r"judgements 1,201/4,000 \(30%\), [0-9,.]+/s, ETA \d+ (s|min|h)", lines[0])
    assert re.fullmatch(
        r"judgements 2,200/4,000 \(55%\), [0-9,.]+/s, in \d+ s, loss 0.4123", lines[1]
    )


def test_a_stage_past_its_total_says_the_rest_was_re_asked():
    from reasonembed.logs import Progress

    logger, lines = _progress_logger("re-asks")
    progress = Progress("queries", 20, logger=logger, every_s=0)
    progress.update(25)  # 20 items, 5 of them asked again
    progress.close()
    assert lines and all("(20 expected; the rest re-asked)" in line for line in lines), lines
    assert not any("%" in line for line in lines)


def test_a_stage_answered_in_batches_has_the_rate_of_its_batches():
    """Answers that arrive a batch at a time (the count still in between) are work in
    progress: the rate spans the wait, it is not the burst's (was: 16/s for 16 per minute)."""
    from reasonembed.logs import Progress

    logger, lines = _progress_logger("batches")
    progress = Progress("judgements", 80, logger=logger, every_s=0)
    progress.set(16)  # the first batch
    for _ in range(5):  # the next batch is being answered
        time.sleep(0.1)
        progress.set(16)
    progress.set(32)
    rate = float(re.search(r", ([0-9.]+)/s", lines[-1]).group(1))
    assert rate < 16 / 0.4, lines  # 16 answers over >= 0.5 s, not over the last poll's 0.1 s


def test_a_short_stage_writes_no_line_and_a_bar_is_never_drawn_off_a_terminal(capsys):
    from reasonembed.logs import Progress

    logger, lines = _progress_logger("short")
    with Progress("encoding", 10, logger=logger, every_s=60) as progress:
        progress.update(10)
    assert lines == []
    assert capsys.readouterr().err == ""


def test_off_a_terminal_no_bar_is_drawn_in_the_command_or_its_children(tmp_path):
    """`bars_off_terminal` (the CLI's first act) before tqdm is imported: no bar of tqdm,
    transformers or a child process reaches a log file."""
    code = (
        "import subprocess, sys\n"
        "from reasonembed.logs import bars_off_terminal\n"
        "assert bars_off_terminal()\n"
        "from tqdm.auto import tqdm\n"
        "from transformers.utils.logging import tqdm as hf_tqdm\n"
        "for _ in tqdm(range(3), desc='ours'): pass\n"
        "for _ in hf_tqdm(range(3), desc='Writing model shards'): pass\n"
        "subprocess.run([sys.executable, '-c', "
        "'from tqdm import tqdm\\nfor _ in tqdm(range(3), desc=\"child\"): pass'], check=True)\n"
    )
    log = tmp_path / "stderr.log"
    with log.open("w") as stderr:
        subprocess.run([sys.executable, "-c", code], stderr=stderr, check=True, timeout=300)
    text = log.read_text()
    assert "\r" not in text and "ours" not in text and "child" not in text, text
    assert "Writing model shards" not in text


def test_the_command_log_format_holds_for_progress_lines(capsys):
    from reasonembed.logs import PROGRESS_LOGGER, Progress, configure_logging

    configure_logging()
    with Progress("corpus encoding", 3, unit="doc", every_s=0) as progress:
        progress.update(2)
        progress.update(1)
    err = capsys.readouterr().err
    assert re.search(r"\d\d:\d\d:\d\d INFO reasonembed.progress: corpus encoding 2/3 \(67%\)", err)
    assert logging.getLogger(PROGRESS_LOGGER).propagate is False

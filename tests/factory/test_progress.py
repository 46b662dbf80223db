"""`reasonembed generate` with its output to a file (not a terminal): no bar, no third-party
DEBUG line, and periodic progress lines that move while a stage runs (the stage progress polls
the usage ledger the step processes write as answers arrive)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

from tests.support.factory_inputs import tiny_config, write_corpus
from tests.support.standin_server import StandinServer

N_CANDIDATES = 4
JUDGEMENTS = 2 * N_CANDIDATES  # 2 seeds
LINE = re.compile(
    r"^\d\d:\d\d:\d\d INFO reasonembed\.progress: (queries|reasoning queries|judgements) "
    r"(\d+)/(\d+) \(\d+%\), [0-9.,]+/s(, (ETA|in) \d+ (s|min|h))?$"
)


def test_generate_into_a_log_file_has_progress_lines_and_no_bars(tmp_path):
    # one request at a time, each answered after 0.3 s: the 8 judgements take about 2.4 s
    with StandinServer(delay_s=0.3) as server:
        role = {"backend": "openai", "model": "standin", "base_url": server.url, "concurrency": 1}
        config = tiny_config(
            write_corpus(tmp_path),
            tmp_path / "cache",
            generator=role,
            annotator=role,
            mining={"search_top_k": 6, "n_candidates": N_CANDIDATES},
            annotation={"score_mode": "tag", "max_reasks": 0},
        )
        path = tmp_path / "config.yaml"
        path.write_text(json.dumps(config))
        env = {**os.environ, "REASONEMBED_PROGRESS_EVERY_S": "0.5"}
        env.pop("TQDM_DISABLE", None)  # the command decides (stderr is a file)
        with (tmp_path / "stderr.log").open("w") as err, (tmp_path / "stdout.log").open("w") as out:
            command = [sys.executable, "-m", "reasonembed.cli", "generate", str(path)]
            command += ["-o", str(tmp_path / "out")]
            done = subprocess.run(command, stdout=out, stderr=err, env=env, timeout=600)
    stderr = (tmp_path / "stderr.log").read_text()
    stdout = (tmp_path / "stdout.log").read_text()
    assert done.returncode == 0, stderr[-3000:]
    assert "\r" not in stderr and "\r" not in stdout
    assert "it/s]" not in stderr  # no tqdm bar, finished or not
    lines = stderr.splitlines()
    assert not [line for line in lines if " DEBUG " in line or "bm25s" in line], stderr
    assert stdout == ""  # distilabel's rich handler prints nothing at this level

    progress = [LINE.match(line) for line in lines if "reasonembed.progress" in line]
    assert progress and all(progress), stderr
    judgements = [int(match[2]) for match in progress if match[1] == "judgements"]
    assert {int(match[3]) for match in progress if match[1] == "judgements"} == {JUDGEMENTS}
    # counted while the stage ran, not only once it ended
    assert any(0 < count < JUDGEMENTS for count in judgements), judgements
    assert judgements == sorted(judgements) and judgements[-1] == JUDGEMENTS

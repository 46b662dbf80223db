"""`reasonembed check CONFIG`: the pipeline built as generate builds it, servers asked for one
token, models resolved; the last line is the verdict: exit 1 when a server did not answer
(unless --offline, which names what was not verified), 0 with the other warnings listed."""

from __future__ import annotations

import http.server
import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from reasonembed.cli import main
from reasonembed.config import load_config
from reasonembed.factory.check import build_steps
from tests.support.factory_inputs import tiny_config, write_corpus
from tests.support.standin_server import StandinServer

REPO = Path(__file__).resolve().parents[2]
SHIPPED = sorted((REPO / "pipelines" / "configs").glob("*.yaml"))
OFFLINE = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def _cli(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "reasonembed.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env or OFFLINE,
        timeout=300,
    )


def _write(tmp_path: Path, **overrides) -> Path:
    corpus = write_corpus(tmp_path / "corpus")
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(tiny_config(corpus, tmp_path / "cache", **overrides)))
    return path


def _openai(url: str, **settings) -> dict:
    return {"backend": "openai", "base_url": url, "model": "standin", **settings}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda path: path.name)
def test_every_shipped_config_builds_its_steps(path, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # relative cache folders land here
    steps = build_steps(load_config(path))
    for name in ("generate_queries", "filter_queries", "mine_candidates", "annotate_relevance"):
        assert name in steps


def test_paper_recipe_checks_offline_and_lists_what_it_could_not_verify(tmp_path):
    paper = str(REPO / "pipelines/configs/bright-paper.yaml")
    result = _cli("check", paper, "--offline", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    out = result.stdout
    assert "pipeline: select_seeds, filter_domain, generate_queries" in out
    assert "mining.retriever: Hub model Alibaba-NLP/gte-Qwen2-7B-instruct" in out
    assert "hanhainebula/reason-embed-annotator-qwen3-8b-0928" in out
    assert "xlangai/BRIGHT on the Hub not verified" in out
    verdict = out.splitlines()[-1]
    assert verdict.startswith(
        "check passed with --offline, NOT verified (server did not answer): generator model "
    )
    assert "annotator model 'hanhainebula/reason-embed-annotator-qwen3-8b-0928' at " in verdict
    assert verdict.endswith("other warning(s)")
    recipe = load_config(REPO / "pipelines/configs/bright-paper.yaml")
    assert recipe.mining.pooling == "last_token" and recipe.mining.trust_remote_code
    assert (recipe.mining.dtype, recipe.mining.max_length) == ("float16", 8192)
    gen, ann = recipe.generator, recipe.annotator
    assert (gen.temperature, gen.top_p, gen.top_k, gen.max_new_tokens) == (1.0, 0.6, None, 8192)
    assert (ann.temperature, ann.top_p, ann.top_k, ann.max_new_tokens) == (0.7, 0.95, 40, 2048)
    assert ann.chat_template_kwargs == {"enable_thinking": False}


def test_demo_config_checks_clean(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert main(["check", str(REPO / "pipelines/configs/demo.yaml")]) == 0
    out = capsys.readouterr().out
    assert "corpus of python_data_structures:" in out and "documents read and valid" in out
    assert "mining.retriever: minilm (bundled" in out
    assert out.splitlines()[-1] == "check passed, 0 warning(s)"


def test_one_token_request_to_each_role(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CHECK_TEST_KEY", "a-key-value")
    with StandinServer() as server:
        config = _write(
            tmp_path,
            generator=_openai(server.url, top_k=None, api_key_env="CHECK_TEST_KEY"),
            annotator=_openai(server.url, chat_template_kwargs={"enable_thinking": False}),
        )
        assert main(["check", str(config)]) == 0
        stats, bodies = server.stats(), list(server.bodies)
    assert stats["requests"] == 3 and stats["answered"] == 2  # one probe, two 1-token chats
    assert [body["max_tokens"] for body in bodies] == [1, 1]
    assert "top_k" not in bodies[0] and bodies[1]["top_k"] == 40
    assert bodies[1]["chat_template_kwargs"] == {"enable_thinking": False}
    out = capsys.readouterr().out
    assert f"annotator: {server.url} answered a 1-token request for model 'standin'" in out


def test_unset_key_stops_in_one_line_before_any_request(tmp_path):
    with StandinServer() as server:
        config = _write(tmp_path, annotator=_openai(server.url, api_key_env="OPENAI_API_KEY"))
        env = {key: value for key, value in OFFLINE.items() if key != "OPENAI_API_KEY"}
        result = _cli("check", str(config), cwd=tmp_path, env=env)
        requests = server.stats()["requests"]
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if " ERROR " in line]
    assert len(errors) == 1 and "annotator: api_key_env OPENAI_API_KEY is not set" in errors[0]
    assert "Traceback" not in result.stderr
    assert requests == 0


def _dead_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/v1"


def test_a_server_that_did_not_answer_fails_unless_offline(tmp_path, capsys):
    url = _dead_url()
    config = _write(tmp_path, generator=_openai(url))
    assert main(["check", str(config)]) == 1
    out = capsys.readouterr().out
    assert f"generator: server {url} did not answer (ConnectionRefusedError" in out
    assert out.splitlines()[-1] == (
        f"check FAILED: 1 server(s) did not answer (generator model 'standin' at {url}): start "
        "them and run check again, or pass --offline to check everything else"
    )

    assert main(["check", str(config), "--offline"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        "check passed with --offline, NOT verified (server did not answer): generator model "
        f"'standin' at {url}; 0 other warning(s)"
    )
    # --strict keeps failing on the other warnings only: here there are none
    assert main(["check", str(config), "--offline", "--strict"]) == 0


class _ServesOneModel(http.server.BaseHTTPRequestHandler):
    """Answers as vLLM does for a model it does not serve: HTTP 404 naming the model."""

    def do_GET(self):  # noqa: N802  (http.server's name)
        self._answer(200, {"object": "list", "data": [{"id": "served-model"}]})

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        message = f"The model `{body['model']}` does not exist."
        self._answer(404, {"object": "error", "message": message, "code": 404})

    def _answer(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


def test_a_model_the_server_does_not_serve_fails_even_offline(tmp_path, caplog):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ServesOneModel)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        config = _write(tmp_path, annotator=_openai(url, model="my-model"))
        for extra in ([], ["--offline"]):
            caplog.clear()
            assert main(["check", str(config), *extra]) == 1
            errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
            assert errors == [
                f"annotator: {url} answered HTTP 404 to a 1-token request for model "
                """'my-model': {"object": "error", "message": "The model `my-model` does not """
                """exist.", "code": 404}"""
            ]
    finally:
        server.shutdown()
        server.server_close()


def test_strict_fails_on_other_warnings(tmp_path, capsys):
    config = _write(tmp_path, generator={"backend": "local", "api_key_env": "UNUSED_KEY"})
    assert main(["check", str(config)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "check passed, 1 warning(s)"
    assert main(["check", str(config), "--strict"]) == 1
    verdict = capsys.readouterr().out.splitlines()[-1]
    assert verdict.startswith("check FAILED (--strict): 1 item(s) not verified, the first: ")
    assert "generator: api_key_env is ignored by backend local" in verdict


def test_missing_model_folder_is_a_real_problem(tmp_path, caplog):
    config = _write(tmp_path, mining={"retriever": "./no-such-model"})
    assert main(["check", str(config)]) == 1
    assert "mining.retriever: model './no-such-model': no such folder" in caplog.text

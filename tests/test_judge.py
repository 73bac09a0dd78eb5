"""The LLM judge client: VoiceBench's official settings by default, retries, a cache, and where the key goes.

The client is tested against a real chat-completions server on 127.0.0.1 that answers from a script.
VoiceBench's prompts and the reading of its judge's answers are tested in test_voicebench_judging.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from diffa_eval.errors import ConfigError
from diffa_eval.scoring.judge import (
    DEFAULT_BASE_URL,
    SYSTEM_MESSAGE,
    JudgeClient,
    JudgeFailure,
    JudgeSettings,
    JudgeVerdict,
    default_judge_cache_dir,
    is_loopback_host,
    is_openai_api,
)

from .chat_server import SERVER_ERROR, ChatServer, Reply, answer, fast, redirect, running


@pytest.fixture
def server() -> Iterator[ChatServer]:
    with running() as chat:
        yield chat


@pytest.fixture(autouse=True)
def no_judge_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DIFFA_EVAL_JUDGE_API_KEY", "OPENAI_API_KEY", "DIFFA_EVAL_JUDGE_BASE_URL", "DIFFA_EVAL_JUDGE_MODEL"):
        monkeypatch.delenv(name, raising=False)


def verdict(outcome: JudgeVerdict | JudgeFailure) -> JudgeVerdict:
    assert isinstance(outcome, JudgeVerdict), outcome
    return outcome


# ---------------------------------------------------------------------------------------------
# Settings are VoiceBench's


def test_the_default_system_message_is_voicebench_s() -> None:
    assert SYSTEM_MESSAGE == "You are a helpful assistant who tries to help answer the user's question."


def test_settings_default_to_voicebench_judge() -> None:
    settings = JudgeSettings(api_key=None)
    assert (settings.base_url, settings.model) == (DEFAULT_BASE_URL, "gpt-4o-mini")
    assert (settings.n, settings.temperature, settings.top_p, settings.max_tokens) == (3, 0.5, 0.95, 1024)
    assert settings.system_message == SYSTEM_MESSAGE
    assert settings.concurrency == 4


def test_api_key_comes_from_diffa_eval_variable_then_openai_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    assert JudgeSettings.from_env().api_key is None
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai")
    assert JudgeSettings.from_env().api_key == "sk-openai"
    monkeypatch.setenv("DIFFA_EVAL_JUDGE_API_KEY", "sk-diffa")
    assert JudgeSettings.from_env().api_key == "sk-diffa"
    assert "sk-diffa" not in repr(JudgeSettings.from_env())
    assert JudgeSettings().api_key is None  # settings made in code take no key from the environment


def test_from_env_reads_url_and_model_and_overrides_win_unless_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIFFA_EVAL_JUDGE_BASE_URL", "http://localhost:8000/v1/")
    monkeypatch.setenv("DIFFA_EVAL_JUDGE_MODEL", "Qwen/Qwen2.5-7B-Instruct")
    settings = JudgeSettings.from_env()
    assert (settings.base_url, settings.model) == ("http://localhost:8000/v1", "Qwen/Qwen2.5-7B-Instruct")
    assert settings.endpoint == "http://localhost:8000/v1/chat/completions"
    overridden = JudgeSettings.from_env(model="gpt-4o-mini", base_url=None, concurrency=8)
    assert (overridden.base_url, overridden.model, overridden.concurrency) == (
        "http://localhost:8000/v1",
        "gpt-4o-mini",
        8,
    )
    with pytest.raises(ConfigError, match="unknown judge setting"):
        JudgeSettings.from_env(temprature=0.0)


def test_a_judge_is_configured_by_an_api_key_or_a_server_other_than_openai() -> None:
    assert not JudgeSettings(api_key=None).configured
    assert JudgeSettings(api_key="sk-test").configured
    assert JudgeSettings(base_url="http://localhost:8000/v1", api_key=None).configured
    assert not JudgeSettings(base_url=DEFAULT_BASE_URL + "/", api_key=None).configured
    message = JudgeSettings(api_key=None).how_to_configure
    for name in ("DIFFA_EVAL_JUDGE_API_KEY", "OPENAI_API_KEY", "DIFFA_EVAL_JUDGE_BASE_URL", "DIFFA_EVAL_JUDGE_MODEL"):
        assert name in message
    assert "--judge-url" in message and "--judge-model" in message


@pytest.mark.parametrize(
    "bad",
    [{"n": 0}, {"concurrency": 0}, {"max_retries": -1}, {"timeout_s": 0}, {"base_url": "localhost:8000"}],
)
def test_settings_that_make_no_sense_are_a_config_error(bad: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        JudgeSettings(**bad)


def test_the_default_cache_is_under_diffa_eval_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DIFFA_EVAL_CACHE_DIR", str(tmp_path))
    assert default_judge_cache_dir() == tmp_path / "judge"
    assert JudgeClient(JudgeSettings(api_key=None)).cache_dir == tmp_path / "judge"


# ---------------------------------------------------------------------------------------------
# Requests and verdicts


def test_a_verdict_holds_the_stripped_answers_and_the_request_is_voicebench_shaped(
    server: ChatServer, tmp_path: Path
) -> None:
    server.queue = [answer(" 4 ", "5\n", "[[3]]")]
    outcome = verdict(JudgeClient(fast(server, api_key="sk-test"), tmp_path).judge("rate this"))
    assert outcome.texts == ("4", "5", "[[3]]")
    assert outcome.model == "judge-model-2024-07-18"  # the snapshot the server reports
    assert not outcome.cached
    (request,) = server.requests
    assert request.body == {
        "model": "judge-model",
        "messages": [{"role": "system", "content": SYSTEM_MESSAGE}, {"role": "user", "content": "rate this"}],
        "n": 3,
        "temperature": 0.5,
        "top_p": 0.95,
        "max_tokens": 1024,
    }
    assert request.headers["authorization"] == "Bearer sk-test"


def test_no_authorization_header_is_sent_without_a_key(server: ChatServer, tmp_path: Path) -> None:
    verdict(JudgeClient(fast(server, api_key=None), tmp_path).judge("rate this"))
    assert "authorization" not in server.requests[0].headers


def test_outcomes_follow_prompt_order_and_identical_prompts_are_judged_once(server: ChatServer, tmp_path: Path) -> None:
    server.script = lambda request: answer(request.prompt, request.prompt, request.prompt)
    outcomes = JudgeClient(fast(server), tmp_path).judge_many(["b", "a", "b", "c"])
    assert [verdict(outcome).texts[0] for outcome in outcomes] == ["b", "a", "b", "c"]
    assert sorted(server.prompts()) == ["a", "b", "c"]


@pytest.mark.parametrize(
    "failure",
    [
        pytest.param(SERVER_ERROR, id="500"),
        pytest.param(Reply(status=503, body=b"upstream unavailable"), id="503"),
        pytest.param(Reply(status=429, body=b'{"error": {"message": "Rate limit reached"}}'), id="429"),
        pytest.param(Reply(body=b'{"choices": [{"message": {"content": "4"'), id="malformed-json"),
        pytest.param(Reply(body=b'{"object": "error", "message": "busy"}'), id="json-without-choices"),
        pytest.param(Reply(body=b'{"choices": [{"message": {"content": null}}]}'), id="choice-without-text"),
        pytest.param(Reply(delay_s=0.6), id="timeout"),
        pytest.param(Reply(hang_up="close"), id="connection-closed"),
        pytest.param(Reply(hang_up="reset"), id="connection-reset"),
    ],
)
def test_a_transient_failure_is_retried_until_the_judge_answers(
    failure: Reply, server: ChatServer, tmp_path: Path
) -> None:
    server.queue = [failure, failure]
    outcome = JudgeClient(fast(server, timeout_s=0.3), tmp_path).judge("rate this")
    assert verdict(outcome).texts == ("5", "5", "5")
    assert len(server.requests) == 3


@pytest.mark.parametrize(
    "trickle",
    [
        pytest.param(Reply(trickle_s=0.05), id="headers"),
        pytest.param(Reply(trickle_s=0.05, trickle_from_body=True), id="body"),
    ],
)
def test_a_reply_trickled_a_byte_at_a_time_is_cut_off_at_the_request_deadline(
    trickle: Reply, server: ChatServer, tmp_path: Path
) -> None:
    server.queue = [trickle]  # every byte comes well within the timeout, the whole reply long after it
    started = time.monotonic()
    outcome = JudgeClient(fast(server, timeout_s=0.5, max_retries=0), tmp_path).judge("rate this")
    took = time.monotonic() - started
    assert isinstance(outcome, JudgeFailure), outcome
    assert "no complete answer within 0.5 s" in outcome.message
    assert took < 1.5


def test_a_trickled_reply_is_retried_and_the_next_answer_is_the_verdict(server: ChatServer, tmp_path: Path) -> None:
    server.queue = [Reply(trickle_s=0.05, trickle_from_body=True)]
    outcome = JudgeClient(fast(server, timeout_s=0.5), tmp_path).judge("rate this")
    assert verdict(outcome).texts == ("5", "5", "5") and len(server.requests) == 2


@pytest.fixture
def https_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ChatServer]:
    """The scripted server over https, with a certificate for localhost that the client trusts."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a certificate")
    key, certificate = tmp_path / "key.pem", tmp_path / "certificate.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(certificate),
         "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"],
        check=True, capture_output=True,
    )  # fmt: skip
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate))  # the client's default trust store
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(certificate, key)
    with running(tls=tls) as chat:
        yield chat


def test_an_https_judge_answers_and_a_trickled_reply_is_cut_off_at_the_deadline_too(
    https_server: ChatServer, tmp_path: Path
) -> None:
    assert https_server.url.startswith("https://localhost:")
    outcome = verdict(JudgeClient(fast(https_server, api_key="sk-judge"), tmp_path).judge("rate this"))
    assert outcome.texts == ("5", "5", "5") and https_server.requests[0].headers["authorization"] == "Bearer sk-judge"
    https_server.queue = [Reply(trickle_s=0.05, trickle_from_body=True)]
    started = time.monotonic()
    failure = JudgeClient(fast(https_server, timeout_s=0.5, max_retries=0), tmp_path).judge("rate that")
    assert isinstance(failure, JudgeFailure) and "no complete answer within 0.5 s" in failure.message
    assert time.monotonic() - started < 1.5


def test_retry_after_is_honoured_even_when_backoff_is_shorter(server: ChatServer, tmp_path: Path) -> None:
    server.queue = [Reply(status=429, headers={"Retry-After": "1"}, body=b"slow down")]
    verdict(JudgeClient(fast(server), tmp_path).judge("rate this"))
    first, second = server.requests
    assert second.at - first.at >= 0.95


def test_retries_are_bounded_and_end_in_a_failure_that_says_why(server: ChatServer, tmp_path: Path) -> None:
    server.script = lambda request: SERVER_ERROR
    outcome = JudgeClient(fast(server, max_retries=2), tmp_path).judge("rate this")
    assert isinstance(outcome, JudgeFailure)
    assert outcome.attempts == 3
    assert "gave up after 3 attempts" in outcome.message
    assert "HTTP 500" in outcome.message and "The server had an error" in outcome.message
    assert len(server.requests) == 3


def test_a_failure_is_not_cached_so_the_next_batch_asks_again(server: ChatServer, tmp_path: Path) -> None:
    server.queue = [SERVER_ERROR]
    client = JudgeClient(fast(server, max_retries=0), tmp_path)
    assert isinstance(client.judge("rate this"), JudgeFailure)
    assert verdict(client.judge("rate this")).texts == ("5", "5", "5")
    assert len(server.requests) == 2


def test_a_rejected_key_fails_at_once_and_names_the_key_variables(server: ChatServer, tmp_path: Path) -> None:
    server.script = lambda request: Reply(status=401, body=b'{"error": {"message": "Incorrect API key provided"}}')
    outcome = JudgeClient(fast(server, api_key="sk-wrong"), tmp_path).judge("rate this")
    assert isinstance(outcome, JudgeFailure)
    assert outcome.attempts == 1
    assert "HTTP 401" in outcome.message and "Incorrect API key provided" in outcome.message
    assert "DIFFA_EVAL_JUDGE_API_KEY" in outcome.message


def test_an_account_out_of_credit_fails_at_once_although_it_is_a_429(server: ChatServer, tmp_path: Path) -> None:
    quota = b'{"error": {"message": "You exceeded your current quota", "code": "insufficient_quota"}}'
    server.script = lambda request: Reply(status=429, body=quota)
    outcome = JudgeClient(fast(server), tmp_path).judge("rate this")
    assert isinstance(outcome, JudgeFailure)
    assert outcome.attempts == 1 and "exceeded your current quota" in outcome.message


def test_a_server_that_returns_fewer_than_n_choices_is_asked_for_the_rest(server: ChatServer, tmp_path: Path) -> None:
    server.queue = [answer("5"), answer("4"), answer("3")]
    outcome = verdict(JudgeClient(fast(server), tmp_path).judge("rate this"))
    assert outcome.texts == ("5", "4", "3")
    assert [request.body["n"] for request in server.requests] == [3, 2, 1]


def test_concurrent_requests_never_exceed_the_concurrency_setting(server: ChatServer, tmp_path: Path) -> None:
    server.script = lambda request: Reply(delay_s=0.1)
    outcomes = JudgeClient(fast(server, concurrency=3), tmp_path).judge_many([f"item {i}" for i in range(12)])
    assert all(isinstance(outcome, JudgeVerdict) for outcome in outcomes)
    assert server.most_in_flight == 3


# ---------------------------------------------------------------------------------------------
# The verdict cache


def test_judging_the_same_prompts_again_makes_no_request(server: ChatServer, tmp_path: Path) -> None:
    server.script = lambda request: answer("4", "5", "4")
    prompts = [f"item {i}" for i in range(5)]
    first = JudgeClient(fast(server), tmp_path).judge_many(prompts)
    requests_before = len(server.requests)
    second = JudgeClient(fast(server), tmp_path).judge_many(prompts)
    assert len(server.requests) == requests_before == 5
    assert [verdict(outcome).texts for outcome in second] == [verdict(outcome).texts for outcome in first]
    assert all(verdict(outcome).cached for outcome in second)
    assert [verdict(outcome).prompt_sha256 for outcome in second] == [verdict(o).prompt_sha256 for o in first]


def _cache_as_before(cache: Path, prompt: str, texts: list[str], base_url: str) -> Path:
    """A verdict file as versions that keyed verdicts without the judge's URL wrote it (default settings)."""
    identity = {
        "model": "gpt-4o-mini",
        "system_message": SYSTEM_MESSAGE,
        "prompt": prompt,
        "n": 3,
        "temperature": 0.5,
        "top_p": 0.95,
        "max_tokens": 1024,
    }
    key = hashlib.sha256(json.dumps(identity, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    path = cache / key[:2] / f"{key}.json"
    path.parent.mkdir(parents=True)
    request = {**identity, "base_url": base_url}
    path.write_text(
        json.dumps({"prompt_sha256": key, "model": "gpt-4o-mini-2024-07-18", "texts": texts, "request": request})
    )
    return path


def test_cached_verdicts_need_no_configured_judge(tmp_path: Path) -> None:
    _cache_as_before(tmp_path, "rate this", ["4", "5", "4"], DEFAULT_BASE_URL)
    offline = JudgeClient(JudgeSettings(api_key=None), tmp_path)
    assert not offline.settings.configured
    assert verdict(offline.judge("rate this")).cached
    with pytest.raises(ConfigError, match="1 of 2 judge prompts have no cached verdict") as raised:
        offline.judge_many(["rate this", "rate that"])
    assert "DIFFA_EVAL_JUDGE_API_KEY" in str(raised.value)


@pytest.mark.parametrize(
    "changed",
    [
        {"model": "another-judge"},
        {"system_message": "You are a strict grader."},
        {"n": 5},
        {"temperature": 0.0},
        {"top_p": 1.0},
        {"max_tokens": 16},
    ],
)
def test_a_changed_judge_setting_misses_the_cache(changed: dict[str, Any], server: ChatServer, tmp_path: Path) -> None:
    verdict(JudgeClient(fast(server), tmp_path).judge("rate this"))
    outcome = verdict(JudgeClient(fast(server, **changed), tmp_path).judge("rate this"))
    assert not outcome.cached
    assert len(server.requests) == 2


def test_verdicts_of_another_judge_server_are_not_reused_under_the_same_model_name(
    server: ChatServer, tmp_path: Path
) -> None:
    server.script = lambda request: answer("1", "1", "1")
    first = verdict(JudgeClient(fast(server), tmp_path).judge("rate this"))
    with running(lambda request: answer("5", "5", "5")) as other:
        second = verdict(JudgeClient(fast(other), tmp_path).judge("rate this"))
        assert len(other.requests) == 1
    assert (first.texts, second.texts) == (("1", "1", "1"), ("5", "5", "5"))
    assert (first.endpoint, second.endpoint) == (f"{server.url}/chat/completions", f"{other.url}/chat/completions")
    assert first.prompt_sha256 != second.prompt_sha256
    back = verdict(JudgeClient(fast(server), tmp_path).judge("rate this"))  # each server's verdict stays cached
    assert back.cached and back.texts == ("1", "1", "1") and len(server.requests) == 1


def test_openai_verdicts_cached_before_the_judge_url_was_part_of_the_key_are_still_used(tmp_path: Path) -> None:
    _cache_as_before(tmp_path, "rate this", ["4", "5", "4"], DEFAULT_BASE_URL)
    outcome = verdict(JudgeClient(JudgeSettings(api_key=None), tmp_path).judge("rate this"))
    assert outcome.cached and outcome.texts == ("4", "5", "4")
    assert outcome.endpoint == "https://api.openai.com/v1/chat/completions"


def test_a_verdict_another_server_cached_under_the_openai_key_is_not_taken_for_openais(tmp_path: Path) -> None:
    # earlier versions keyed verdicts by model name only: a local server called "gpt-4o-mini" filled OpenAI's keys
    _cache_as_before(tmp_path, "rate this", ["1", "1", "1"], "http://127.0.0.1:8000/v1")
    with pytest.raises(ConfigError, match="1 of 1 judge prompts have no cached verdict"):
        JudgeClient(JudgeSettings(api_key=None), tmp_path).judge("rate this")


def test_transport_settings_do_not_change_which_verdict_is_cached(server: ChatServer, tmp_path: Path) -> None:
    verdict(JudgeClient(fast(server), tmp_path).judge("rate this"))
    again = JudgeClient(fast(server, concurrency=1, timeout_s=9.0, max_retries=0, api_key="sk-x"), tmp_path)
    assert verdict(again.judge("rate this")).cached
    assert len(server.requests) == 1


def test_an_interrupted_batch_resumes_without_repeating_finished_prompts(server: ChatServer, tmp_path: Path) -> None:
    prompts = [f"item {i}" for i in range(8)]
    unfinished = {"item 1", "item 4", "item 6"}
    server.script = lambda request: SERVER_ERROR if request.prompt in unfinished else Reply()
    first = JudgeClient(fast(server, max_retries=0), tmp_path).judge_many(prompts)
    assert {p for p, outcome in zip(prompts, first, strict=True) if isinstance(outcome, JudgeFailure)} == unfinished

    server.requests.clear()
    server.script = lambda request: Reply()
    second = JudgeClient(fast(server), tmp_path).judge_many(prompts)
    assert sorted(server.prompts()) == sorted(unfinished)
    assert all(isinstance(outcome, JudgeVerdict) for outcome in second)
    assert {p for p, outcome in zip(prompts, second, strict=True) if not verdict(outcome).cached} == unfinished


def test_each_verdict_is_one_small_json_file_and_no_temporary_is_left(server: ChatServer, tmp_path: Path) -> None:
    outcome = verdict(JudgeClient(fast(server), tmp_path).judge("rate this"))
    files = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert [path.name for path in files] == [f"{outcome.prompt_sha256}.json"]
    record = json.loads(files[0].read_text())
    assert record["texts"] == ["5", "5", "5"]
    assert record["request"]["prompt"] == "rate this"
    assert record["model"] == "judge-model-2024-07-18"


def test_an_unreadable_cache_file_is_ignored_and_replaced(server: ChatServer, tmp_path: Path) -> None:
    client = JudgeClient(fast(server), tmp_path)
    outcome = verdict(client.judge("rate this"))
    (path,) = [p for p in tmp_path.rglob("*.json")]
    path.write_text('{"texts": ["5", "5"')  # torn by some other tool
    assert not verdict(client.judge("rate this")).cached
    assert json.loads(path.read_text())["prompt_sha256"] == outcome.prompt_sha256


def test_clients_writing_the_same_cache_at_once_leave_only_whole_files(server: ChatServer, tmp_path: Path) -> None:
    server.script = lambda request: Reply(delay_s=0.01)
    prompts = [f"item {i}" for i in range(20)]
    outcomes: list[list[JudgeVerdict | JudgeFailure]] = []
    workers = [
        threading.Thread(target=lambda: outcomes.append(JudgeClient(fast(server), tmp_path).judge_many(prompts)))
        for _ in range(3)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len(outcomes) == 3 and all(isinstance(o, JudgeVerdict) for batch in outcomes for o in batch)
    files = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert len(files) == 20
    assert all(json.loads(path.read_text())["texts"] == ["5", "5", "5"] for path in files)


# ---------------------------------------------------------------------------------------------
# Where the API key goes


def test_openai_api_key_goes_only_to_the_openai_api(
    server: ChatServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai")
    assert JudgeSettings.from_env().api_key == "sk-openai"
    monkeypatch.setenv("DIFFA_EVAL_JUDGE_BASE_URL", server.url)
    settings = JudgeSettings.from_env(model="judge-model")
    assert settings.api_key is None and settings.configured
    verdict(JudgeClient(settings, tmp_path).judge("rate this"))
    assert "authorization" not in server.requests[0].headers
    assert not any("sk-openai" in value for value in server.requests[0].headers.values())


def test_another_judge_gets_the_diffa_eval_key(
    server: ChatServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai")
    monkeypatch.setenv("DIFFA_EVAL_JUDGE_API_KEY", "sk-judge")
    verdict(JudgeClient(JudgeSettings.from_env(base_url=server.url, model="judge-model"), tmp_path).judge("rate this"))
    assert server.requests[0].headers["authorization"] == "Bearer sk-judge"


@pytest.mark.parametrize(
    ("url", "openai"),
    [
        ("https://api.openai.com/v1", True),
        ("https://API.OpenAI.com/v1/", True),
        ("https://api.openai.com:443/v1", True),
        ("http://api.openai.com/v1", False),
        ("https://api.openai.com:8443/v1", False),
        ("https://api.openai.com.example.net/v1", False),
        ("https://openai-proxy.example.net/v1", False),
        ("http://localhost:8000/v1", False),
    ],
)
def test_only_https_on_the_openai_api_host_counts_as_the_openai_api(url: str, openai: bool) -> None:
    assert is_openai_api(url) is openai


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_not_followed_so_the_other_host_gets_neither_key_nor_prompt(
    status: int, server: ChatServer, tmp_path: Path
) -> None:
    with running() as elsewhere:
        server.script = lambda request: redirect(status, f"{elsewhere.url}/chat/completions")
        outcome = JudgeClient(fast(server, api_key="sk-judge"), tmp_path).judge("rate this")
        assert elsewhere.requests == []
    assert isinstance(outcome, JudgeFailure) and outcome.attempts == 1
    assert f"HTTP {status}" in outcome.message and f"redirect to {elsewhere.url}/chat/completions" in outcome.message
    assert "--judge-url" in outcome.message
    assert not any(tmp_path.rglob("*.json"))


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("LOCALHOST", True),
        ("127.0.0.1", True),
        ("127.10.20.30", True),
        ("::1", True),
        ("[::1]", True),
        ("::ffff:127.0.0.1", True),
        ("judge.example.net", False),
        ("localhost.example.net", False),
        ("127.0.0.1.example.net", False),
        ("10.0.0.5", False),
        ("192.168.1.20", False),
        ("0.0.0.0", False),
        ("::", False),
    ],
)
def test_a_loopback_host_is_localhost_or_a_loopback_address_as_written(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


@pytest.mark.parametrize(
    ("url", "key", "allowed"),
    [
        ("http://judge.example.net/v1", "sk-judge", False),
        ("http://10.0.0.5:8000/v1", "sk-judge", False),
        ("http://judge.example.net/v1", None, True),  # no key, nothing to leak
        ("https://judge.example.net/v1", "sk-judge", True),
        ("http://localhost:8000/v1", "sk-judge", True),
        ("http://127.0.0.1:8000/v1", "sk-judge", True),
        ("http://[::1]:8000/v1", "sk-judge", True),
    ],
)
def test_a_key_over_http_to_another_machine_needs_the_opt_in(url: str, key: str | None, allowed: bool) -> None:
    if allowed:
        JudgeSettings(base_url=url, api_key=key)
    else:
        with pytest.raises(ConfigError, match="DIFFA_EVAL_JUDGE_ALLOW_HTTP_KEY=1") as raised:
            JudgeSettings(base_url=url, api_key=key)
        assert "sk-judge" not in str(raised.value)
    assert JudgeSettings(base_url=url, api_key=key, allow_http_key=True).api_key == key


def test_the_http_opt_in_is_read_from_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIFFA_EVAL_JUDGE_API_KEY", "sk-judge")
    monkeypatch.setenv("DIFFA_EVAL_JUDGE_BASE_URL", "http://judge.example.net/v1")
    with pytest.raises(ConfigError, match="refusing to send the API key in clear text"):
        JudgeSettings.from_env()
    monkeypatch.setenv("DIFFA_EVAL_JUDGE_ALLOW_HTTP_KEY", "1")
    assert JudgeSettings.from_env().allow_http_key
    monkeypatch.setenv("DIFFA_EVAL_JUDGE_ALLOW_HTTP_KEY", "perhaps")
    with pytest.raises(ConfigError, match="DIFFA_EVAL_JUDGE_ALLOW_HTTP_KEY must be 1 or 0"):
        JudgeSettings.from_env()


def test_with_the_opt_in_the_key_goes_over_http_to_a_host_named_otherwise(
    server: ChatServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # "judge.lan" stands for another machine: the name is resolved to this server, the decision is on the name
    port = int(server.url.rsplit(":", 1)[1].split("/")[0])
    resolve = socket.getaddrinfo

    def lan(host: Any, *args: Any, **kwargs: Any) -> Any:
        return resolve("127.0.0.1" if host == "judge.lan" else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", lan)
    url = f"http://judge.lan:{port}/v1"
    with pytest.raises(ConfigError):
        JudgeSettings(base_url=url, model="judge-model", api_key="sk-judge")
    settings = JudgeSettings(base_url=url, model="judge-model", api_key="sk-judge", allow_http_key=True)
    verdict(JudgeClient(settings, tmp_path).judge("rate this"))
    assert server.requests[0].headers["authorization"] == "Bearer sk-judge"
    assert server.requests[0].headers["host"] == f"judge.lan:{port}"


@pytest.mark.slow
def test_a_run_with_a_key_for_an_http_judge_elsewhere_stops_with_the_opt_in_named(tmp_path: Path) -> None:
    environment = {
        **os.environ,
        "DIFFA_EVAL_JUDGE_API_KEY": "sk-judge",
        "DIFFA_EVAL_CACHE_DIR": str(tmp_path / "cache"),
    }
    environment.pop("DIFFA_EVAL_JUDGE_ALLOW_HTTP_KEY", None)
    command = [
        sys.executable, "-m", "diffa_eval", "run", "-m", "chance", "-t", "voicebench_commoneval", "--split", "sample",
        "--output-dir", str(tmp_path / "runs"), "--quiet", "--judge-url", "http://judge.invalid/v1",
    ]  # fmt: skip
    done = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "refusing to send the API key in clear text (http) to judge.invalid" in done.stderr
    assert "DIFFA_EVAL_JUDGE_ALLOW_HTTP_KEY=1" in done.stderr
    assert "sk-judge" not in done.stdout + done.stderr

"""The VoiceBench LLM judge: official prompts and settings, a retrying cached client, official parsers.

The client is tested against a real chat-completions server on 127.0.0.1 that answers from a script.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from diffa_eval.errors import ConfigError, DiffaEvalError
from diffa_eval.scoring.judge import (
    DEFAULT_BASE_URL,
    OPEN_PROMPT_TEMPLATE,
    QA_PROMPT_TEMPLATE,
    SYSTEM_MESSAGE,
    JudgeClient,
    JudgeFailure,
    JudgeOutputError,
    JudgeSettings,
    JudgeVerdict,
    default_judge_cache_dir,
    open_prompt,
    open_rating,
    open_score,
    qa_prompt,
    qa_vote,
)

from .chat_server import SERVER_ERROR, ChatServer, Reply, answer, fast, running


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
# Prompts and settings are VoiceBench's


def test_prompts_are_voicebench_api_judge_templates_character_for_character() -> None:
    # sha256 of meta_prompt_open and meta_prompt_qa in MatthewCYM/VoiceBench@5338154:api_judge.py
    assert hashlib.sha256(OPEN_PROMPT_TEMPLATE.encode()).hexdigest() == (
        "98f2e9919fbad61f1cab0c2492f53519412d97faeead126c756d73355552bd1e"
    )
    assert hashlib.sha256(QA_PROMPT_TEMPLATE.encode()).hexdigest() == (
        "b89c3ec54556c16e6a111586a215d8b9d2cbbbb2d334c2604d84f7102ec398b0"
    )
    assert SYSTEM_MESSAGE == "You are a helpful assistant who tries to help answer the user's question."


def test_open_prompt_fills_instruction_and_response_by_plain_replacement_so_braces_are_safe() -> None:
    prompt = open_prompt("Format {name} as JSON: {}", 'Here: {"name": "x"} and {0}')
    assert "### [Instruction]: Format {name} as JSON: {}\n" in prompt
    assert '### [Response]: Here: {"name": "x"} and {0}\n' in prompt
    assert prompt.startswith("\nI need your help") and prompt.endswith("explanations.\n")


def test_qa_prompt_fills_question_reference_and_response() -> None:
    prompt = qa_prompt("who wrote {hamlet}?", "shakespeare", "William Shakespeare")
    assert prompt.startswith("### Question\nwho wrote {hamlet}?\n\n### Reference answer\nshakespeare\n\n")
    assert "### Candidate answer\nWilliam Shakespeare\n\nIs the candidate answer correct" in prompt


def test_settings_default_to_voicebench_judge() -> None:
    settings = JudgeSettings(api_key=None)
    assert (settings.base_url, settings.model) == (DEFAULT_BASE_URL, "gpt-4o-mini")
    assert (settings.n, settings.temperature, settings.top_p, settings.max_tokens) == (3, 0.5, 0.95, 1024)
    assert settings.system_message == SYSTEM_MESSAGE
    assert settings.concurrency == 4


def test_api_key_comes_from_diffa_eval_variable_then_openai_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    assert JudgeSettings().api_key is None
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai")
    assert JudgeSettings().api_key == "sk-openai"
    monkeypatch.setenv("DIFFA_EVAL_JUDGE_API_KEY", "sk-diffa")
    assert JudgeSettings().api_key == "sk-diffa"
    assert "sk-diffa" not in repr(JudgeSettings())


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


def test_cached_verdicts_need_no_configured_judge(server: ChatServer, tmp_path: Path) -> None:
    verdict(JudgeClient(fast(server), tmp_path).judge("rate this"))
    offline = JudgeClient(JudgeSettings(model="judge-model", api_key=None), tmp_path)
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
# Reading the judge's answers as VoiceBench's evaluators do


def test_an_open_ended_rating_is_the_answer_as_a_number_else_the_double_bracketed_number() -> None:
    assert open_rating("4") == 4.0
    assert open_rating("4.5") == 4.5
    assert open_rating("Rating: [[3]]") == 3.0
    assert open_rating("[[2]] or maybe [[5]]") == 2.0


def test_an_open_ended_answer_without_a_score_is_an_error() -> None:
    with pytest.raises(JudgeOutputError, match="no score"):
        open_rating("The response is excellent.")
    with pytest.raises(DiffaEvalError):
        open_score(["4", "Score: 4"])


def test_the_open_ended_score_is_the_mean_of_all_ratings() -> None:
    assert open_score(["4", "5", "[[3]]"]) == 4.0
    assert open_score(["1", "2"]) == 1.5
    with pytest.raises(JudgeOutputError):
        open_score([])


@pytest.mark.parametrize(
    ("texts", "correct"),
    [
        (["Yes", "yes", "No"], True),
        (["No", "no", "Yes"], False),
        (["YES", "Yes", "yes"], True),
        (["Yes.", "Yes.", "Yes"], False),  # no punctuation stripping: the majority is "yes."
        (["Yes", "No", "Maybe"], False),  # a three-way tie never counts as "yes"
        (["Yes", "No"], False),
        (["Yes"], True),
    ],
)
def test_a_qa_verdict_is_correct_when_the_lowercased_majority_is_exactly_yes(texts: list[str], correct: bool) -> None:
    assert qa_vote(texts) is correct


def test_a_qa_vote_needs_answers() -> None:
    with pytest.raises(JudgeOutputError):
        qa_vote([])

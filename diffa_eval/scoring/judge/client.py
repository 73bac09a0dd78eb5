"""The judge client: verdicts for many prompts, a few requests at a time, retried, and cached on disk.

`JudgeClient` sends prompts to any OpenAI-compatible `POST {base_url}/chat/completions` endpoint,
retrying what can succeed on a second try, and keeps every verdict in an on-disk cache: scoring the
same outputs again makes no request, and an interrupted batch resumes where it stopped.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from ...errors import ConfigError, DiffaEvalError
from ...files import atomic_write_text
from .settings import JudgeSettings, default_judge_cache_dir, normalized_url
from .transport import FatalError, RequestBatch, RetryableError, chat_completion

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JudgeVerdict:
    """The judge's n answers to one prompt, each stripped of surrounding whitespace (as VoiceBench does)."""

    texts: tuple[str, ...]
    model: str
    """The model that answered as the server named it (e.g. a dated snapshot), else the requested name."""
    prompt_sha256: str
    """`JudgeSettings.request_sha256` of the request: the judge, model, system message, prompt and sampling settings."""
    cached: bool
    """True when the verdict was read from the cache instead of requested."""
    endpoint: str
    """The chat-completions URL that gave the verdict."""


@dataclass(frozen=True)
class JudgeFailure:
    """A prompt the judge could not answer; never cached, so the next batch tries it again."""

    message: str
    attempts: int
    """HTTP requests made for this prompt."""


class JudgeOutputError(DiffaEvalError, ValueError):
    """A judge answer that a benchmark's rules cannot read (e.g. no score in it), or no answers at all."""


class JudgeClient:
    """Asks an OpenAI-compatible chat-completions server for verdicts, with retries and an on-disk cache.

    Each verdict is cached in `cache_dir` as a small JSON file named by its `prompt_sha256`, written
    atomically as soon as it arrives, so concurrent clients and killed processes never leave a torn
    file, and re-scoring is offline and free. A changed judge URL, sampling setting or judge model
    misses the cache. Failures are not cached.

    Servers that return fewer than n choices (some local servers ignore n) are asked again, for the
    missing number of choices, until n answers are collected; each such request counts as an attempt.
    """

    def __init__(self, settings: JudgeSettings, cache_dir: Path | None = None) -> None:
        self.settings = settings
        self.cache_dir = cache_dir if cache_dir is not None else default_judge_cache_dir()
        self._random = random.Random()

    def judge(self, prompt: str) -> JudgeVerdict | JudgeFailure:
        return self.judge_many([prompt])[0]

    def cached_verdict(self, prompt: str) -> JudgeVerdict | None:
        """The cached verdict for this prompt under the current settings, if any; never makes a request."""
        key = self.settings.request_sha256(prompt)
        path = self._cache_path(key)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as error:
            log.warning("ignoring unreadable cached judge verdict %s (%s)", path, error)
            return None
        texts = data.get("texts") if isinstance(data, dict) else None
        if not (
            isinstance(texts, list) and len(texts) == self.settings.n and all(isinstance(text, str) for text in texts)
        ):
            log.warning("ignoring cached judge verdict %s: it does not hold %d texts", path, self.settings.n)
            return None
        request = data.get("request")
        judge = request.get("base_url") if isinstance(request, dict) else None
        if not isinstance(judge, str) or normalized_url(judge) != self.settings.base_url:
            log.warning("ignoring cached judge verdict %s: another judge (%s) gave it", path, judge)
            return None
        model = data.get("model")
        return JudgeVerdict(
            tuple(texts),
            model if isinstance(model, str) else self.settings.model,
            key,
            cached=True,
            endpoint=self.settings.endpoint,
        )

    def judge_many(self, prompts: Sequence[str]) -> list[JudgeVerdict | JudgeFailure]:
        """One verdict or failure per prompt, in order; cached prompts make no request.

        Identical prompts are judged once. Raises ConfigError when some prompts are not cached and no
        judge is configured. An interruption (KeyboardInterrupt) ends the requests in flight at once;
        every verdict received before it is cached.
        """
        unique = list(dict.fromkeys(prompts))
        outcomes: dict[str, JudgeVerdict | JudgeFailure] = {}
        pending = []
        for prompt in unique:
            verdict = self.cached_verdict(prompt)
            if verdict is None:
                pending.append(prompt)
            else:
                outcomes[prompt] = verdict
        if pending:
            if not self.settings.configured:
                raise ConfigError(
                    f"{len(pending)} of {len(unique)} judge prompts have no cached verdict in {self.cache_dir}. "
                    + self.settings.how_to_configure
                )
            log.info(
                "judging %d prompts with %s at %s (%d cached)",
                len(pending),
                self.settings.model,
                self.settings.base_url,
                len(unique) - len(pending),
            )
            outcomes.update(self._judge_uncached(pending))
        return [outcomes[prompt] for prompt in prompts]

    def _judge_uncached(self, prompts: Sequence[str]) -> dict[str, JudgeVerdict | JudgeFailure]:
        batch = RequestBatch()
        executor = ThreadPoolExecutor(
            max_workers=min(self.settings.concurrency, len(prompts)), thread_name_prefix="diffa-eval-judge"
        )
        outcomes: dict[str, JudgeVerdict | JudgeFailure] = {}
        try:
            futures: dict[Future[JudgeVerdict | JudgeFailure], str] = {
                executor.submit(self._judge_one, prompt, batch): prompt for prompt in prompts
            }
            for future in as_completed(futures):
                outcomes[futures[future]] = future.result()
        finally:
            # An interrupted batch: waiting workers give up and requests in flight end at once, so that the
            # workers (which the interpreter waits for at exit) are done in moments; finished verdicts stay cached.
            batch.stop()
            executor.shutdown(wait=False, cancel_futures=True)
        failed = sum(isinstance(outcome, JudgeFailure) for outcome in outcomes.values())
        if failed:
            log.warning(
                "%d of %d judge prompts failed; they are not cached and will be retried next time", failed, len(prompts)
            )
        return outcomes

    def _judge_one(self, prompt: str, batch: RequestBatch) -> JudgeVerdict | JudgeFailure:
        wanted = self.settings.n
        texts: list[str] = []
        served_model: str | None = None
        attempts = failures = 0
        while len(texts) < wanted:
            if batch.stopped.is_set():
                return JudgeFailure("the batch was interrupted before this prompt was judged", attempts)
            attempts += 1
            try:
                model, answers = chat_completion(self.settings, prompt, wanted - len(texts), batch)
            except FatalError as error:
                return JudgeFailure(str(error), attempts)
            except RetryableError as error:
                failures += 1
                if failures > self.settings.max_retries:
                    return JudgeFailure(
                        f"gave up after {attempts} attempts ({self.settings.max_retries} retries); last error: {error}",
                        attempts,
                    )
                delay = self._retry_delay(failures, error.retry_after)
                log.info(
                    "judge request failed (%s); retry %d of %d in %.2f s",
                    error,
                    failures,
                    self.settings.max_retries,
                    delay,
                )
                if batch.stopped.wait(delay):
                    return JudgeFailure("the batch was interrupted before this prompt was judged", attempts)
                continue
            texts.extend(answers[: wanted - len(texts)])
            served_model = served_model or model
            if len(texts) < wanted:
                log.debug("the judge returned %d of %d answers; asking for the rest", len(texts), wanted)
        verdict = JudgeVerdict(
            tuple(texts),
            served_model or self.settings.model,
            self.settings.request_sha256(prompt),
            cached=False,
            endpoint=self.settings.endpoint,
        )
        self._store(prompt, verdict)
        return verdict

    def _retry_delay(self, failure_number: int, retry_after: float | None) -> float:
        """Exponential backoff with jitter (between half and all of the step), or longer if the server asks."""
        step = min(self.settings.max_backoff_s, self.settings.backoff_s * 2.0 ** min(failure_number - 1, 60))
        delay = step / 2 + self._random.uniform(0, step / 2)
        return max(delay, retry_after) if retry_after is not None else delay

    def _cache_path(self, key: str) -> Path:
        return self.cache_dir / key[:2] / f"{key}.json"

    def _store(self, prompt: str, verdict: JudgeVerdict) -> None:
        settings = self.settings
        record = {
            "prompt_sha256": verdict.prompt_sha256,
            "model": verdict.model,
            "texts": list(verdict.texts),
            "request": {
                "base_url": settings.base_url,
                "model": settings.model,
                "system_message": settings.system_message,
                "prompt": prompt,
                "n": settings.n,
                "temperature": settings.temperature,
                "top_p": settings.top_p,
                "max_tokens": settings.max_tokens,
            },
        }
        path = self._cache_path(verdict.prompt_sha256)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(path, json.dumps(record, ensure_ascii=False, indent=1) + "\n")
        except OSError as error:
            log.warning("could not cache a judge verdict at %s: %s", path, error)

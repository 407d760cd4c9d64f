"""The multimodal LLM, through the `openai` client: any OpenAI-compatible endpoint.

Five questions are asked (the prompts are in prelabel.pipeline.prompts):
- stage 1, per image: a description (DF), a classification against the label list (PF) and the candidate names
  seen, as JSON (JSON-schema output where the server supports it, a tolerant parser otherwise);
- stage 2 (TLAC), text only: given the label list and the stage-1 answer, exactly one label or "none";
- stage 2 with the image, when stage 1's words fit several labels: the image and those labels as a multiple
  choice, one label or "none";
- class descriptions: five short descriptions per label, written once into the vocabulary's sibling file;
- suggested names (TLAC's first stage): the other names of a label, for an expert to accept or reject.

Transient failures (429, 5xx, timeouts, lost connections) are retried with exponential backoff and jitter,
honouring Retry-After; anything else becomes an MLLMError with a short cause, never a crash of the run.
"""

from __future__ import annotations

import datetime
import email.utils
import json
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import openai

from prelabel import text as strings
from prelabel.pipeline.boxes import read_findings, salvage
from prelabel.pipeline.cache import ResponseCache, cache_key
from prelabel.pipeline.prompts import (
    DESCRIBE_VERSION,
    DESCRIPTION_PROMPTS,
    REGION_BOXES,
    SHORTLIST_NOTE,
    STAGE1_OPEN_PROMPT,
    STAGE1_PROMPT,
    STAGE1_REGIONS_PROMPT,
    STAGE1_REGIONS_VERSION,
    STAGE1_SCHEMA,
    STAGE1_VERSION,
    STAGE2_IMAGE_PROMPT,
    STAGE2_IMAGE_VERSION,
    STAGE2_PROMPT,
    STAGE2_VERSION,
    SUGGEST_PROMPT,
    SUGGEST_SCHEMA,
    SUGGEST_VERSION,
    stage1_regions_schema,
)
from prelabel.pipeline.result import Stage1Answer
from prelabel.redact import redact_url

if TYPE_CHECKING:
    from prelabel.settings import Settings

T = TypeVar("T")
MAX_BACKOFF = 30.0
STAGE1 = ("stage1", STAGE1_SCHEMA)  # the structured-output request of stage 1: its name and JSON schema


class MLLMError(Exception):
    """A failed MLLM call; `cause` is one word for summaries: timeout, rate_limited, server_error, connection,
    rejected, malformed, truncated (cut off at the token limit), refused or no_image (the model did not see the
    image)."""

    def __init__(self, cause: str, detail: str, usage: Usage | None = None):
        super().__init__(f"{cause}: {detail}")
        self.cause = cause
        self.usage = usage or Usage()  # what the failed question cost all the same: its calls, retries included


@dataclass(frozen=True)
class Usage:
    """What one question cost: `calls` counts retries too. A cache hit costs nothing; `saved_*` are the tokens
    the cached answer took when it was asked, what a run without the cache would pay again."""

    cached: bool = False
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    saved_prompt_tokens: int = 0
    saved_completion_tokens: int = 0


@dataclass
class CallStats:
    """Counters shared by the threads of one run (and read by /metrics)."""

    calls: int = 0
    retries: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **counts: int) -> None:
        with self._lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)

    def failed(self, cause: str) -> None:
        with self._lock:
            self.failures[cause] = self.failures.get(cause, 0) + 1

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class MLLMClient:
    """Thread-safe: one client serves every worker thread of a run."""

    def __init__(self, client: openai.OpenAI, model: str, cache: ResponseCache | None = None, retries: int = 4,
                 json_schema: bool = True, sleep: Callable[[float], None] = time.sleep,
                 backoff_base: float = 0.5, image_detail: str = "auto"):
        self.client = client
        self.model = model
        self.cache = cache
        self.retries = retries
        self.json_schema = json_schema
        self.image_detail = image_detail
        self.stats = CallStats()
        self._sleep = sleep
        self._backoff_base = backoff_base

    @property
    def identity(self) -> tuple[str, str]:
        """Who answers: the endpoint's base URL and the model's name. Every cache key starts with it (and the
        prompt's version), so one model's answers never stand in for another's, nor one server's for another's
        serving a model of the same name."""
        return str(self.client.base_url).rstrip("/"), self.model

    @classmethod
    def from_settings(cls, settings: Settings, cache: ResponseCache | None = None) -> MLLMClient:
        # The client's own retries are off: ours honour Retry-After and count what they do.
        client = openai.OpenAI(base_url=settings.llm_base_url, api_key=settings.llm_api_key or "none",
                               timeout=settings.llm_timeout, max_retries=0)
        return cls(client, settings.llm_model, cache, settings.llm_retries, settings.llm_json_schema,
                   image_detail=settings.image_detail)

    # ---- the three questions --------------------------------------------------------------------------

    def stage1(self, image_hash: str, data_url: str, labels: list[str], shortlist: bool = False,
               ) -> tuple[Stage1Answer, Usage]:
        """Description, classification and candidates for one image, and what asking cost. `labels` are all the
        vocabulary's, or a shortlist (`shortlist`: the model may name something else), or none at all."""
        key = cache_key("stage1", STAGE1_VERSION, *self.identity, self.image_detail, image_hash, labels, shortlist)
        messages = self.stage1_messages(data_url, labels, shortlist)
        return self._cached(key, lambda: self.chat(messages, STAGE1), parse_stage1,
                            lambda answer: json.dumps(answer.to_dict(), ensure_ascii=False))

    def stage1_regions(self, image_hash: str, data_url: str, labels: list[str], shortlist: bool,
                       convention: str) -> tuple[Stage1Answer, Usage]:
        """Stage 1 of a region project: the three fields and each finding with its box, asked in `convention`
        (pipeline/boxes.py), read however the model wrote it."""
        key = cache_key("stage1-regions", STAGE1_REGIONS_VERSION, *self.identity, self.image_detail, image_hash,
                        labels, shortlist, convention)
        messages, schema = self.stage1_regions_question(data_url, labels, shortlist, convention)
        return self._cached(key, lambda: self.chat(messages, schema), parse_stage1_regions,
                            lambda answer: json.dumps(answer.to_dict(), ensure_ascii=False))

    def stage1_regions_question(self, data_url: str, labels: list[str], shortlist: bool,
                                convention: str) -> tuple[list[Any], tuple[str, dict[str, Any]]]:
        """The region question's messages and its structured-output request (`prelabel check --regions` asks
        it too)."""
        key, box = REGION_BOXES[convention]
        text = STAGE1_REGIONS_PROMPT.format(labels=", ".join(labels) or "(name them freely)", key=key, box=box)
        return (self._with_image(data_url, text + (SHORTLIST_NOTE if shortlist else "")),
                ("stage1_regions", stage1_regions_schema(key)))

    def stage1_messages(self, data_url: str | None, labels: list[str], shortlist: bool = False) -> list[Any]:
        """The stage-1 question; without `data_url`, the same words alone (`prelabel check` measures what the
        image costs as the difference)."""
        if labels:
            text = STAGE1_PROMPT.format(labels=", ".join(labels)) + (SHORTLIST_NOTE if shortlist else "")
        else:
            text = STAGE1_OPEN_PROMPT
        return self._with_image(data_url, text) if data_url else [{"role": "user", "content": text}]

    def _with_image(self, data_url: str, text: str) -> list[Any]:
        image: dict[str, str] = {"url": data_url}
        if self.image_detail != "auto":  # left out when it is the default: some local servers refuse the field
            image["detail"] = self.image_detail
        return [{"role": "user", "content": [
            {"type": "image_url", "image_url": image},
            {"type": "text", "text": text},
        ]}]

    def stage2(self, answer: str, label_lines: list[str], vocabulary_version: str) -> tuple[str, Usage]:
        """TLAC stage 2: the label the model picks for a stage-1 answer (raw text, normalised by the caller)."""
        key = cache_key("stage2", STAGE2_VERSION, *self.identity, vocabulary_version, answer, label_lines)
        prompt = STAGE2_PROMPT.format(labels="\n".join(f"- {line}" for line in label_lines), answer=answer)
        return self._cached(key, lambda: self.chat([{"role": "user", "content": prompt}]), parse_stage2, str)

    def stage2_image(self, image_hash: str, data_url: str, answer: str, label_lines: list[str],
                     vocabulary_version: str) -> tuple[str, Usage]:
        """Stage 2 with the image: the label the model picks from `label_lines` (the candidates stage 1's words
        fit) after looking at the image again, or "none" (raw text, normalised by the caller). Parsed like the
        text-only stage 2."""
        key = cache_key("stage2-image", STAGE2_IMAGE_VERSION, *self.identity, self.image_detail, vocabulary_version,
                        image_hash, answer, label_lines)
        prompt = STAGE2_IMAGE_PROMPT.format(answer=answer, labels="\n".join(f"- {line}" for line in label_lines))
        messages = self._with_image(data_url, prompt)
        return self._cached(key, lambda: self.chat(messages), parse_stage2, str)

    def describe_class(self, name: str, check: Callable[[str], object | None] | None = None,
                       force: bool = False) -> list[tuple[str, object | None]]:
        """Five short descriptions of a class, one call each: (text, what `check` found wrong with it, or None).
        Only texts that pass the check are cached, so junk is asked again next time; `force` asks past the
        cache."""
        found = []
        for prompt in DESCRIPTION_PROMPTS:
            question = prompt.format(c=name)
            key = cache_key("describe", DESCRIBE_VERSION, *self.identity, question)
            cached = self.cache.get(key) if self.cache is not None and not force else None
            if cached is not None:
                self.stats.add(cache_hits=1)
            reply = cached or self.chat([{"role": "user", "content": question}])
            text = " ".join(strings.clean(reply["content"], strings.DESCRIPTION).split())
            flag = check(text) if check else (None if text else "empty")
            if flag is None and cached is None and self.cache is not None:
                # the checked, sanitised text, never the raw reply
                self.cache.put(key, {"content": text, "prompt_tokens": reply["prompt_tokens"],
                                     "completion_tokens": reply["completion_tokens"]})
            found.append((text, flag))
        return found

    def suggest_names(self, label: str, names: list[str], domain: str, languages: list[str],
                      force: bool = False) -> list[dict[str, Any]]:
        """TLAC's first stage: the other names of a class, as {"name", "kind", "language"}. A malformed answer is
        an MLLMError and is not cached; `force` asks past the cache."""
        prompt = SUGGEST_PROMPT.format(domain=domain, label=label, names="; ".join(names) or "(none)",
                                       languages=", ".join(languages) or "en")
        key = cache_key("suggest", SUGGEST_VERSION, *self.identity, prompt)
        messages = [{"role": "user", "content": prompt}]
        return self._cached(key, lambda: self.chat(messages, ("suggest", SUGGEST_SCHEMA)), parse_suggestions,
                            lambda found: json.dumps({"names": found}, ensure_ascii=False), force=force)[0]

    # ---- calling ----------------------------------------------------------------------------------------

    def _cached(self, key: str, call: Callable[[], dict[str, Any]], parse: Callable[[str], T],
                store: Callable[[T], str], force: bool = False) -> tuple[T, Usage]:
        """(parsed answer, its cost). Only answers that parse are cached, and what is cached is the parsed,
        sanitised answer (`store` writes it back as text `parse` reads), never the raw reply: a malformed one
        is asked again on the next run rather than remembered, and nothing the server sent unchecked (a lone
        surrogate, a control character) reaches the cache. `force` asks again past the cache (and caches the new
        answer)."""
        if self.cache is not None and not force:
            found = self.cache.get(key)
            if found is not None:
                self.stats.add(cache_hits=1)
                return parse(found["content"]), Usage(cached=True, saved_prompt_tokens=_tokens(found.get(
                    "prompt_tokens", 0)), saved_completion_tokens=_tokens(found.get("completion_tokens", 0)))
        reply = call()
        try:
            parsed = parse(reply["content"])
        except MLLMError as exc:
            if exc.cause == "malformed" and reply["finish_reason"] == "length":
                # Not a model that cannot write JSON: one that ran out of tokens (max_tokens, or a reasoning
                # model's thinking ate them). Said as such, so the fix (a larger limit) is plain.
                exc = MLLMError("truncated", f"the answer was cut off at the token limit (finish_reason "
                                             f"length): {reply['content'][-120:]!r}")
            self.stats.failed(exc.cause)  # counted like every other failure
            exc.usage = Usage(False, reply["calls"], reply["prompt_tokens"], reply["completion_tokens"])
            raise exc from None
        if self.cache is not None:
            self.cache.put(key, {"content": store(parsed), "prompt_tokens": reply["prompt_tokens"],
                                 "completion_tokens": reply["completion_tokens"]})
        return parsed, Usage(False, reply["calls"], reply["prompt_tokens"], reply["completion_tokens"])

    def chat(self, messages: list[Any], schema: tuple[str, dict[str, Any]] | None = None) -> dict[str, Any]:
        """One chat completion past the cache, with retries: {"content", "prompt_tokens", "completion_tokens",
        "finish_reason", "model" (as the server names it), "calls"}. `schema` asks for structured output, unless
        this endpoint refused it before."""
        extra: dict[str, Any] = {}
        if schema and self.json_schema and not self._prompt_only():
            extra["response_format"] = {"type": "json_schema",
                                        "json_schema": {"name": schema[0], "schema": schema[1], "strict": True}}
        attempt, calls, fell_back = 0, 0, False
        while True:
            try:
                self.stats.add(calls=1)
                calls += 1
                response = self.client.chat.completions.create(model=self.model, messages=messages, **extra)
                reply = {**self._reply(response), "calls": calls}
                if fell_back:
                    self.remember_prompt_only()
                return reply
            except MLLMError as exc:  # _reply's: an answer that is none (the calls were made all the same)
                exc.usage = Usage(calls=calls)
                raise
            except openai.BadRequestError as exc:
                if "response_format" in extra:
                    # Servers without JSON-schema output refuse the field: ask plainly, parse tolerantly. Only
                    # remembered once the plain question is accepted: a 400 for another reason (an image the
                    # model cannot take) must not turn structured output off for good.
                    extra, fell_back = {}, True
                    continue
                raise self._failure("rejected", exc, calls) from None
            except (openai.RateLimitError, openai.InternalServerError, openai.APITimeoutError,
                    openai.APIConnectionError) as exc:
                cause = _transient_cause(exc)
                if attempt >= self.retries:
                    raise self._failure(cause, exc, calls) from None
                self.stats.add(retries=1)
                self._sleep(self._delay(attempt, exc))
                attempt += 1
            except (openai.APIResponseValidationError, ValueError) as exc:
                # A body that claims JSON but is not surfaces as json.JSONDecodeError (a ValueError), unwrapped.
                raise self._failure("malformed", exc, calls) from None
            except openai.APIStatusError as exc:
                raise self._failure("rejected", exc, calls) from None

    def _reply(self, response: object) -> dict[str, Any]:
        # The client does not validate bodies: a text/plain body comes back as a bare string, and a JSON body of
        # the wrong shape as a ChatCompletion holding whatever the server sent. Read it defensively.
        choices = getattr(response, "choices", None)
        message = getattr(choices[0], "message", None) if isinstance(choices, list) and choices else None
        if not hasattr(message, "content"):  # None, or a message that is a bare string
            raise self._failure("malformed", f"no answer in the response: {str(response)[:200]!r}")
        refusal = getattr(message, "refusal", None)
        if refusal:
            raise self._failure("refused", refusal)
        content = getattr(message, "content", None)
        if isinstance(content, list):  # content parts, as some servers send them: the text parts, in order
            content = self._text_of_parts(content)
        if content is not None and not isinstance(content, str):
            raise self._failure("malformed", f"the answer is not text: {content!r:.200}")
        finish_reason = getattr(choices[0], "finish_reason", None) if choices else None
        if finish_reason == "content_filter" and not content:  # Azure OpenAI's filter: a refusal by the provider
            raise self._failure("refused", "the provider's content filter withheld the answer")
        usage = getattr(response, "usage", None)
        prompt = _tokens(getattr(usage, "prompt_tokens", 0))
        completion = _tokens(getattr(usage, "completion_tokens", 0))
        self.stats.add(prompt_tokens=prompt, completion_tokens=completion)
        model = getattr(response, "model", None)
        return {"content": content or "", "prompt_tokens": prompt, "completion_tokens": completion,
                "finish_reason": finish_reason if isinstance(finish_reason, str) else None,
                "model": strings.clean(model, strings.NAME) if isinstance(model, str) else None}

    def _text_of_parts(self, parts: list[Any]) -> str:
        """The text of a content given as parts ({"type": "text", "text": ...}); a refusal part is a refusal,
        anything that is not a part at all is malformed."""
        texts = []
        for part in parts:
            if not isinstance(part, dict):
                raise self._failure("malformed", f"the answer is not text: {parts!r:.200}")
            if part.get("type") == "refusal" and part.get("refusal"):
                raise self._failure("refused", str(part["refusal"]))
            if part.get("type") in ("text", "output_text") and isinstance(part.get("text"), str):
                texts.append(part["text"])
        return "".join(texts)

    def _prompt_only(self) -> bool:
        """This endpoint refused structured output before (remembered in the cache, so every process knows)."""
        if self.json_schema and self.cache is not None and self.cache.get(self._prompt_only_key) is not None:
            self.json_schema = False
        return not self.json_schema

    def remember_prompt_only(self) -> None:
        """Ask this endpoint without structured output from now on, in every process that shares the cache."""
        self.json_schema = False
        if self.cache is not None:
            self.cache.put(self._prompt_only_key, {"content": "prompt-only"})

    @property
    def _prompt_only_key(self) -> str:
        return cache_key("endpoint-refuses-response-format", *self.identity)

    def _failure(self, cause: str, detail: object, calls: int = 0) -> MLLMError:
        """The error, its detail shortened and cleaned, and the API key masked: a server may echo it back
        ("Incorrect API key provided: sk-..."), and the detail goes into results, evidence and logs."""
        self.stats.failed(cause)
        message = strings.clean(str(detail)[:300], strings.MESSAGE)
        key = getattr(self.client, "api_key", None)
        if isinstance(key, str) and len(key) >= 4 and key.lower() != "none":
            message = message.replace(key, "***")
        if cause in ("connection", "timeout"):  # the client's own words ("Connection error.") name no address
            message += f" ({redact_url(self.identity[0])})"
        return MLLMError(cause, message, Usage(calls=calls))

    def _delay(self, attempt: int, exc: Exception) -> float:
        response = getattr(exc, "response", None)
        retry_after = retry_after_seconds(response.headers) if response is not None else None
        if retry_after is not None:
            return min(retry_after, MAX_BACKOFF)
        backoff = self._backoff_base * 2 ** attempt
        return float(min(backoff + random.uniform(0, backoff), MAX_BACKOFF))


def _tokens(value: object) -> int:
    """A token count as the server reported it; anything but a non-negative integer counts as none."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _transient_cause(exc: Exception) -> str:
    if isinstance(exc, openai.RateLimitError):
        return "rate_limited"
    if isinstance(exc, openai.InternalServerError):
        return "server_error"
    if isinstance(exc, openai.APITimeoutError):
        return "timeout"
    return "connection"


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """Retry-After in seconds or as an HTTP date, or OpenAI's retry-after-ms."""
    milliseconds = headers.get("retry-after-ms")
    if milliseconds:
        try:
            return max(0.0, float(milliseconds) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None  # unreadable: the caller backs off as if there were none
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)  # HTTP dates are GMT ("-0000" parses as naive)
    return max(0.0, when.timestamp() - time.time())


def parse_stage2(content: str) -> str:
    """The stage-2 reply: one label (or "none") as the model wrote it, for the normaliser to read."""
    text = strings.clean(_FENCE.sub("", without_thinking(content).strip()).strip().strip("\"'`"),
                         strings.SENTENCE).strip()
    if not text:
        raise MLLMError("refused", "empty answer to the stage-2 question")
    return text


_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.IGNORECASE)


_THINKING = re.compile(r"<think(?:ing)?>.*?</think(?:ing)?>", re.IGNORECASE | re.DOTALL)
_THINKING_END = re.compile(r"</think(?:ing)?>", re.IGNORECASE)


def without_thinking(content: str) -> str:
    """The answer without a reasoning model's <think>...</think> block (DeepSeek-R1, QwQ, Qwen3 served without
    a reasoning parser). Some chat templates open the block in the prompt, so the answer holds only its end:
    what follows the last closing tag is the answer."""
    text = _THINKING.sub("", content)
    found = list(_THINKING_END.finditer(text))
    return text[found[-1].end():] if found else text


def _json_object(content: str) -> dict[str, Any]:
    """The JSON object in an answer; tolerant of code fences, text around it and a reasoning block before it,
    not of an answer that holds no JSON object at all."""
    text = _FENCE.sub("", without_thinking(content).strip())
    start = text.find("{")
    if start < 0:
        if _NO_IMAGE.search(text):
            raise MLLMError("no_image", "the model says it did not see the image (does the model take images? "
                                        f"`prelabel check` tells): {text[:160]!r}")
        raise MLLMError("malformed", f"no JSON object in the answer: {content[:200]!r}")
    try:
        data, _ = json.JSONDecoder().raw_decode(text, start)  # prose after the object, braces and all, is ignored
    except json.JSONDecodeError as exc:
        raise MLLMError("malformed", f"invalid JSON ({exc.msg}): {content[:200]!r}") from None
    if not isinstance(data, dict):
        raise MLLMError("malformed", f"expected a JSON object: {content[:200]!r}")
    return data


def parse_suggestions(content: str) -> list[dict[str, Any]]:
    """The names of a suggest answer, each {"name", "kind", "language"}; plain strings are common names."""
    names = _json_object(content).get("names")
    if not isinstance(names, list):
        raise MLLMError("malformed", f"'names' is not a list: {content[:200]!r}")
    found = []
    for item in names:
        if isinstance(item, str):
            item = {"name": item}
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise MLLMError("malformed", f"a name is neither text nor an object with 'name': {item!r:.200}")
        name = " ".join(strings.clean(item["name"], strings.SENTENCE).split())
        if not strings.fits(name, strings.NAME):
            continue  # no name is that long (prelabel.text): dropped, like an over-long stage-1 candidate
        language = item.get("language")
        found.append({"name": name, "kind": strings.clean(item.get("kind") or "common", strings.NAME).lower(),
                      "language": strings.clean(language, strings.NAME) if isinstance(language, str) else language})
    return found


# An answer names a handful of candidates; 50,000 of them made a 7 MB evidence row per task. The first ones
# (the model's own order) are kept, each once.
MAX_CANDIDATES = 20

# The fields as models name them when they answer in Japanese (the prompt's own keys are English).
_STAGE1_KEYS = {"説明": "description", "記述": "description", "分類": "classification", "クラス": "classification",
                "候補": "candidates", "候補名": "candidates"}

# What a model says when the server did not pass it the image (a text-only model behind an OpenAI-compatible
# server that drops image parts): an answer about an image it never saw must not label anything.
_NO_IMAGE = re.compile(
    r"\b(?:no|not an?|without an?) image (?:was |has been |is )?(?:provided|attached|uploaded|included|shared)"
    r"|\b(?:can ?not|can't|cannot|unable to|don't|do not) (?:see|view|access|open|process|look at) (?:the |any |an )?"
    r"(?:image|picture|photo)s?(?! clearly| well| in detail)"
    r"|画像(?:が|は)(?:添付|提供|表示)されていない|画像を(?:見る|確認する|表示する)ことが?できません",
    re.IGNORECASE)


def _first_names(names: Iterable[str]) -> tuple[str, ...]:
    """The first MAX_CANDIDATES distinct names that can be names (no longer than a name can be)."""
    kept: dict[str, None] = {}
    for name in names:
        if name and strings.fits(name, strings.NAME):
            kept.setdefault(name)
            if len(kept) == MAX_CANDIDATES:
                break
    return tuple(kept)


def parse_stage1(content: str) -> Stage1Answer:
    """Read the stage-1 JSON; tolerant of code fences, text around the object, a reasoning block, Japanese keys
    and missing fields, not of an answer that holds no JSON object at all, nor of one that says the model saw
    no image."""
    data = {_STAGE1_KEYS.get(str(key).strip(), str(key).strip().lower()): value
            for key, value in _json_object(content).items()}
    candidates = data.get("candidates") or []
    if isinstance(candidates, str):
        candidates = [candidates]
    if not isinstance(candidates, list):
        raise MLLMError("malformed", f"candidates is not a list: {content[:200]!r}")
    values = [data.get("description"), data.get("classification"), *candidates]
    if any(isinstance(value, dict | list) for value in values):  # str() of these would be a nonsense name
        raise MLLMError("malformed", f"a field holds an object or list, not text: {content[:200]!r}")
    # Sanitised here, before anything keeps them (prelabel.text): the description and classification are cut
    # to their caps; a candidate is a name, and one longer than a name can be is no name at all: dropped.
    names = (" ".join(strings.clean(c, strings.SENTENCE).split()) for c in candidates if c is not None)
    answer = Stage1Answer(
        description=strings.clean(data.get("description") or "", strings.DESCRIPTION).strip(),
        classification=strings.clean(data.get("classification") or "", strings.SENTENCE).strip(),
        candidates=_first_names(names),
    )
    if not (answer.description or answer.classification or answer.candidates):
        raise MLLMError("refused", f"the answer names nothing: {content[:200]!r}")
    if _NO_IMAGE.search(f"{answer.description} {answer.classification}"):
        raise MLLMError("no_image", "the model says it did not see the image (does the model take images? "
                                    f"`prelabel check` tells): {answer.description[:160]!r}")
    return answer


def parse_stage1_regions(content: str) -> Stage1Answer:
    """Read a region project's stage 1: an object with the three fields and `findings`, or a bare list of
    findings (what grounding models write when asked for boxes alone); tolerant of code fences, prose, a
    reasoning block and an answer cut off at the token limit (every complete finding before the cut is kept,
    and the cut counted). An answer with neither a finding nor a name is malformed or refused, as in stage 1."""
    text = without_thinking(content).strip()
    data, cut_off = salvage(text)
    if data is None:
        return parse_stage1(content)  # no JSON at all: stage 1's own errors (no_image, malformed)
    findings, skipped = read_findings(data, cut_off)
    if isinstance(data, dict):
        kept = data.get("skipped")
        if isinstance(kept, dict):  # a cached answer: what was skipped when it was asked
            for reason, count in kept.items():
                if isinstance(count, int) and not isinstance(count, bool):
                    skipped[str(reason)] = skipped.get(str(reason), 0) + count
        fields = {key: value for key, value in data.items() if key not in ("findings", "skipped")}
        try:
            answer = parse_stage1(json.dumps(fields, ensure_ascii=False))
        except MLLMError as exc:
            if exc.cause != "refused" or not (findings or "findings" in data):
                raise
            answer = Stage1Answer("", "" if findings else "none", ())  # {"findings": []}: nothing there
    else:
        answer = Stage1Answer("", "" if findings else "none", ())  # a bare list; [] says nothing is there
    if cut_off and not findings:
        raise MLLMError("malformed", f"no complete finding in the answer: {content[:200]!r}")
    return Stage1Answer(answer.description, answer.classification, answer.candidates, tuple(findings),
                        tuple(sorted(skipped.items())))

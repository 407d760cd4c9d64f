"""Credentials kept out of what Prelabel shows: HTTP responses, logs, job results and CLI errors.

The secrets are the settings' own: the Label Studio token, the Basic auth password, the MLLM API key, and the
passwords inside REDIS_URL and PRELABEL_DATABASE_URL. Messages are built from URLs and from other libraries'
exceptions, so redaction works on any text: every known secret is replaced, and so is the password of any
`scheme://user:password@host` URL, known or not.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from prelabel.settings import Settings

MASK = "***"
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^\s/@:]*:)(?P<password>[^\s/@]+)@")
MIN_SECRET = 6  # shorter "secrets" ("none", "admin") would mask ordinary words; use longer ones


def redact_url(url: str) -> str:
    """The URL with the password of its user part masked: redis://:***@host:6379/0."""
    return _URL_PASSWORD.sub(lambda m: f"{m['head']}{MASK}@", url)


def secrets_of(settings: Settings) -> list[str]:
    """Every credential the settings hold."""
    found = [settings.label_studio_api_key, settings.basic_auth_pass]
    if settings.llm_api_key.lower() != "none":
        found.append(settings.llm_api_key)
    for url in (settings.redis_url, settings.database_url, settings.label_studio_url, settings.llm_base_url):
        try:
            found.append(urlsplit(url).password or "")
        except ValueError:
            continue
    return [secret for secret in found if len(secret) >= MIN_SECRET]


class Redactor:
    """Replaces known secrets and URL passwords in text."""

    def __init__(self, secrets: Iterable[str] = ()):
        self.secrets: set[str] = set()
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        self.secrets.update(secret for secret in secrets if len(secret) >= MIN_SECRET)

    def __call__(self, text: str) -> str:
        text = redact_url(text)
        for secret in sorted(self.secrets, key=len, reverse=True):  # a secret containing another goes first
            text = text.replace(secret, MASK)
        return text


class RedactingFilter(logging.Filter):
    """A log filter on a handler: the record's message and traceback text leave with secrets masked."""

    def __init__(self, redactor: Redactor):
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = self.redactor(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redactor(record.exc_text)
        return True


def protect_logs(settings: Settings, loggers: Iterable[str] = ()) -> Redactor:
    """Mask the settings' secrets in every record that the root logger's handlers, and those of `loggers`
    (gunicorn's, rq's), write. The process's one filter per handler learns the secrets of every Settings
    passed (a test builds many apps in one process); a root logger without handlers gets one on stderr
    (warnings and errors, as Python's last-resort handler would print them)."""
    root = logging.getLogger()
    if not root.handlers:
        stderr = logging.StreamHandler()
        stderr.setLevel(logging.WARNING)
        stderr.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        root.addHandler(stderr)
    redactor = Redactor(secrets_of(settings))
    for logger in (root, *(logging.getLogger(name) for name in loggers)):
        for handler in logger.handlers:
            existing = next((f for f in handler.filters if isinstance(f, RedactingFilter)), None)
            if existing is None:
                handler.addFilter(RedactingFilter(Redactor(redactor.secrets)))
            else:
                existing.redactor.add(redactor.secrets)
    return redactor

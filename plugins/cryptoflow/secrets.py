"""Keeping API keys out of logs, stored URLs, exceptions and alerts.

Every secret a hook uses is registered here (and with Airflow's task-log masker). ``redact`` removes registered
secrets from any text; ``redact_url`` also drops the query parameters that carry keys, so a URL can be stored.
"""

from __future__ import annotations

import logging
import re
import threading
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"
SECRET_PARAM_NAMES = frozenset({"api-key", "api_key", "apikey", "key", "token", "access_token", "x-api-key"})

_lock = threading.Lock()
_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Mask ``value`` everywhere from now on (our redaction and Airflow's task logs)."""
    if not value or len(value) < 4:
        return
    with _lock:
        _secrets.add(value)
    try:
        from airflow.sdk.log import mask_secret

        mask_secret(value)
    except Exception:  # outside a task the masker may not be configured; our own redaction still applies
        pass


def redact(text: object) -> str:
    """``text`` as a string with every registered secret replaced by ``***``."""
    out = str(text)
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        out = out.replace(secret, MASK)
    return out


def is_secret_param(name: str) -> bool:
    return name.lower() in SECRET_PARAM_NAMES


def redact_params(params: dict | None) -> dict:
    """``params`` without the entries that carry secrets (their values are replaced by ``***``)."""
    return {k: (MASK if is_secret_param(k) else v) for k, v in (params or {}).items()}


def redact_url(url: str) -> str:
    """``url`` with secret query parameters masked and any registered secret (e.g. in the path) removed."""
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    query = urlencode([(k, MASK if is_secret_param(k) else v) for k, v in pairs], safe="*")
    cleaned = urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))
    return redact(cleaned)


_URL_IN_TEXT = re.compile(r"https?://\S+")


def redact_text(text: object) -> str:
    """Like ``redact``, and also masks key-carrying query parameters of any URL in the text."""
    return _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), redact(text))


class RedactingFilter(logging.Filter):
    """Removes secrets from records of loggers we do not control (urllib3 logs every URL it requests)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.msg = record.getMessage()
            record.args = None
        record.msg = redact_text(record.msg)
        return True


def redact_library_logs() -> None:
    for name in ("urllib3.connectionpool", "requests"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())

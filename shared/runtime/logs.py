"""structlog: JSON when not on a terminal, `correlation_id` bound per message via contextvars.

Logs never carry a customer's phone number or name (PII-LOG, docs/rules.md §11): `redact_personal`
replaces phone-like numbers in every logged string and the values of known personal fields, and the
standard library's records (uvicorn, psycopg, faststream) pass the same redaction.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

REDACTED = "[redacted]"
PHONE_LIKE = re.compile(
    r"(?<![0-9A-Za-z])(?:(?:\+|00)?86[- ]?)?(?:1[3-9]\d(?:[- ]?\d{4}){2}|0\d{2,3}[- ]?\d{7,8})(?![0-9A-Za-z])"
)
"""A mainland mobile (13800000001, 138-0000-0001, +86 …) or a landline with its area code (010-12345678)."""
PERSONAL_KEYS = frozenset({
    "phone", "customer", "customer_name", "address", "customer.name", "customer.phone", "site.address", "fields",
})  # fmt: skip
"""Log keys whose values are personal data (or may hold it, like a record completion's `fields`)."""


OWN_HANDLER_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


def redact_text(text: str) -> str:
    return PHONE_LIKE.sub(REDACTED, text)


def _redact(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: REDACTED if k in PERSONAL_KEYS else _redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact(v) for v in value]
    if isinstance(value, int | float | bool) or value is None:
        return value
    return redact_text(repr(value))


def redact_personal(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: no phone number and no personal field in any log line."""
    for key, value in event_dict.items():
        event_dict[key] = REDACTED if key in PERSONAL_KEYS else _redact(value)
    return event_dict


class RedactingFilter(logging.Filter):
    """The same redaction for the standard library's log records (message and arguments)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact_text(record.getMessage())
        record.args = None
        if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
            record.exc_text = redact_text(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def configure_logging(service: str, level: str = "INFO") -> None:
    processors: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_personal,
    ]
    renderer: structlog.typing.Processor = (
        structlog.dev.ConsoleRenderer() if sys.stderr.isatty() else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[*processors, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
    for name in OWN_HANDLER_LOGGERS:  # they log through their own handlers, not the root's
        named = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in named.filters):
            named.addFilter(RedactingFilter())

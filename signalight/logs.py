"""Structured logs: one line per event, `time level logger event key=value ...`.

Code logs an event name and its fields as key=value in the message, the same in every package:
`log.warning("poll_failed device=%s error=%s", d, e)` (formatted only when the record is emitted). Fields a library
passes in `extra` are printed after it as key=value pairs, quoted when they hold spaces.
"""

from __future__ import annotations

import logging
import sys
import time

_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}


def _value(v: object) -> str:
    text = str(v)
    if not text or any(c in text for c in ' ="'):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


class KeyValueFormatter(logging.Formatter):
    converter = staticmethod(time.gmtime)  # UTC stamps, whatever the local zone

    def format(self, record: logging.LogRecord) -> str:
        stamp = self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z"
        fields = " ".join(f"{k}={_value(v)}" for k, v in record.__dict__.items() if k not in _STANDARD)
        line = f"{stamp} {record.levelname.lower():<7} {record.name} {record.getMessage()}"
        if fields:
            line += " " + fields
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def configure(level: str = "info") -> None:
    """Send every logger's records to stderr as key=value lines. Quietens chatty libraries."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(KeyValueFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("amqtt", "transitions", "pymodbus", "httpx", "httpcore", "uvicorn.access", "aiosqlite",
                 "apscheduler", "hpack"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # amqtt logs every client disconnect as an error-level traceback; keep them out of the operator's way
    logging.getLogger("amqtt.broker").setLevel(logging.CRITICAL)
    logging.getLogger("amqtt.mqtt.protocol.handler").setLevel(logging.CRITICAL)

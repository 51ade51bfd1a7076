"""Logging for every server, configured once by the framework before the server runs.

`-v N` follows klog: 0-4 log at INFO (4 also prints tracebacks of failures), 5 and more at
DEBUG, where per-operation traces live. `--log-format json` writes one JSON object a line.
Library code only ever calls `logging.getLogger(__name__)`.
"""

from __future__ import annotations

import json
import logging
import time
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from collections.abc import Sequence

DEBUG_FROM = 5
_HANDLER_NAME = "hyperkube"


class JSONFormatter(logging.Formatter):
    """One JSON object a line, with klog's field names where it has them."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": round(record.created, 6),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """klog-like: `I1128 12:00:00.123456 logger] message`."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%m%d %H:%M:%S", time.localtime(record.created))
        micros = int((record.created % 1) * 1_000_000)
        text = f"{record.levelname[0]}{stamp}.{micros:06d} {record.name}] {record.getMessage()}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def configure(verbosity: int, fmt: str, roots: Sequence[str], stream: TextIO) -> None:
    """Send the loggers under `roots` to `stream` at the level `verbosity` asks for."""
    handler = logging.StreamHandler(stream)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(JSONFormatter() if fmt == "json" else TextFormatter())
    level = logging.DEBUG if verbosity >= DEBUG_FROM else logging.INFO
    for name in roots:
        logger = logging.getLogger(name)
        for old in [h for h in logger.handlers if h.get_name() == _HANDLER_NAME]:
            logger.removeHandler(old)
        logger.addHandler(handler)
        logger.setLevel(level)
        logger.propagate = False

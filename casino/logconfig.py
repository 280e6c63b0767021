"""structlog wiring: one renderer for our own logs and the standard library's."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

import structlog

_SHARED_PROCESSORS: list[structlog.typing.Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def make_formatter(json: bool = False) -> logging.Formatter:
    """Formatter for ``LOGGING``; also configures structlog itself (once)."""
    if not structlog.is_configured():
        structlog.configure(
            processors=[*_SHARED_PROCESSORS, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
            logger_factory=structlog.stdlib.LoggerFactory(),
            wrapper_class=structlog.stdlib.BoundLogger,
            cache_logger_on_first_use=True,
        )
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if json
        # Plain tracebacks: rich's pretty ones cost seconds of CPU per logged exception.
        else structlog.dev.ConsoleRenderer(colors=False, exception_formatter=structlog.dev.plain_traceback)
    )
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_SHARED_PROCESSORS,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A console handler that writes to whatever ``sys.stderr`` is *now*.

    ``logging.StreamHandler`` binds the stream it was built with. Under pytest
    that is the capture file of the moment the settings were loaded; pytest
    closes it at the end of the session, and anything logged afterwards (a
    thread, an ``atexit`` hook) printed a "--- Logging error --- ValueError:
    I/O operation on closed file" block instead. Looking ``sys.stderr`` up on
    every record (as the standard library's last-resort handler does) follows
    pytest's swaps and never holds a closed stream.
    """

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        """``StreamHandler.__init__`` and ``setStream`` assign; nothing to keep."""

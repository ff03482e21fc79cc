"""devproxy's error vocabulary.

Owns the few exception types that cross module boundaries. Everything else raises
builtins. No module but ``cli`` turns these into exit codes or prints them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Location:
    """Where in a config file a value was written (1-based line and column)."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


class DevproxyError(Exception):
    """Base of every error devproxy raises on purpose."""


class ConfigError(DevproxyError):
    """A config mistake, with where it was written when known.

    ``str()`` reads like a compiler diagnostic so editors can jump to it:
    ``devproxy.yaml:12:5: routes[2].target: expected an http:// or https:// URL``.
    One error may carry several problems (``problems``); each is a ``ConfigError``.
    """

    def __init__(
        self,
        message: str,
        location: Location | None = None,
        problems: tuple[ConfigError, ...] = (),
    ) -> None:
        self.message = message
        self.location = location
        self.problems = problems or (self,)
        super().__init__(message)

    @classmethod
    def collect(cls, problems: list[ConfigError]) -> ConfigError:
        """One error standing for several, in file order."""
        if len(problems) == 1:
            return problems[0]
        ordered = sorted(
            problems,
            key=lambda p: (p.location.line, p.location.column) if p.location else (0, 0),
        )
        return cls(f"{len(ordered)} problems", None, tuple(ordered))

    def __str__(self) -> str:
        if len(self.problems) > 1:
            return "\n".join(str(p) for p in self.problems)
        if self.location is None:
            return self.message
        return f"{self.location}: {self.message}"


class UpstreamError(DevproxyError):
    """The upstream could not be reached or did not answer in time.

    ``status_hint`` is what the browser should get: 502 for refused, reset or TLS
    failures, 504 for timeouts. ``kind`` is a short stable tag for logs and tests
    (``refused``, ``tls``, ``connect-timeout``, ``response-timeout``,
    ``upload-stalled``, ``reset``, ``dns``, ``protocol``); ``detail`` is the human
    explanation.
    """

    def __init__(self, status_hint: int, kind: str, detail: str, hint: str = "") -> None:
        self.status_hint = status_hint
        self.kind = kind
        self.detail = detail
        self.hint = hint
        # The backend is known to speak plain HTTP (it answered on this connection
        # before, or failed only well after the request): no TLS server to look for.
        self.spoke_http = False
        super().__init__(detail)


class BindError(DevproxyError):
    """The listen address could not be bound (in use, not local, no permission).

    ``reason`` says why; ``hint`` (for a port in use) is the flag that picks another.
    """

    def __init__(self, reason: str, hint: str = "") -> None:
        self.reason = reason
        self.hint = hint
        super().__init__(f"{reason}; {hint}" if hint else reason)

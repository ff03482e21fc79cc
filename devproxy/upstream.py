"""The upstream side: the shared client session and what can go wrong reaching a target.

Owns the one ``ClientSession`` factory, name resolution for ``localhost``, the single
place where aiohttp's client exceptions become ``UpstreamError`` (``map_exceptions``),
the per-address diagnosis behind a 502, and outage bookkeeping so a dead backend is
logged once per outage, not once per request. It never builds responses for the
browser (``errorpages``) and never decides routes.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from .config import Target, is_ip, is_localhost, url_host
from .errors import UpstreamError
from .h1 import NOT_HTTP

logger = logging.getLogger(__name__)

# aiohttp adds these to every client request unless told not to; a proxy must send
# only what the browser sent.
_SKIP_AUTO_HEADERS = ("Accept", "Accept-Encoding", "User-Agent", "Content-Type")
_DIAGNOSE_TIMEOUT = 1.0
_HEADER_LIMIT = 64 * 1024


def make_session() -> aiohttp.ClientSession:
    """The app's aiohttp client, for the inspector's replays.

    No cookie jar (cookies belong to the browser), no decompression (bodies pass
    through byte for byte); redirects are refused per request.
    """
    connector = aiohttp.TCPConnector(
        limit=0,
        limit_per_host=0,
        resolver=LoopbackResolver(),
        # Under the idle timeouts dev servers use (Node 5 s, uvicorn 5 s), so the pool
        # lets a connection go before the backend does, rather than racing its close.
        keepalive_timeout=4,
        ttl_dns_cache=10,
    )
    return aiohttp.ClientSession(
        connector=connector,
        cookie_jar=aiohttp.DummyCookieJar(),
        auto_decompress=False,
        skip_auto_headers=_SKIP_AUTO_HEADERS,
        timeout=aiohttp.ClientTimeout(total=None),
        raise_for_status=False,
        # A backend's big Set-Cookie (JWTs) must not turn into a 502.
        max_line_size=_HEADER_LIMIT,
        max_field_size=_HEADER_LIMIT,
    )


class LoopbackResolver(AbstractResolver):
    """Resolve ``localhost`` to both 127.0.0.1 and ::1 and delegate everything else.

    The system resolver (with AI_ADDRCONFIG, as aiohttp calls it) may return only one
    of the two; a backend that listens on ::1 only (Node 17+ defaults) or 127.0.0.1 only
    must work either way, so both are tried in turn.
    """

    def __init__(self) -> None:
        self._system: ThreadedResolver | None = None

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if is_localhost(host):
            return [
                _result(host, addr, port, fam)
                for addr, fam in (("127.0.0.1", socket.AF_INET), ("::1", socket.AF_INET6))
                if family in (socket.AF_UNSPEC, fam)
            ]
        if self._system is None:
            self._system = ThreadedResolver()
        return await self._system.resolve(host, port, family)

    async def close(self) -> None:
        if self._system is not None:
            await self._system.close()


def _result(host: str, addr: str, port: int, family: socket.AddressFamily) -> ResolveResult:
    return ResolveResult(
        hostname=host, host=addr, port=port, family=family, proto=0,
        flags=socket.AI_NUMERICHOST,
    )


@contextmanager
def map_exceptions(target: Target, connect_timeout: float) -> Iterator[None]:
    """Translate aiohttp's client errors raised inside the block into ``UpstreamError``.

    This is the only place that knows aiohttp's exception hierarchy. Order matters:
    the certificate and SSL errors subclass the connector error.
    """
    try:
        yield
    except aiohttp.ClientConnectorCertificateError as exc:
        raise _certificate_failed(target, exc.certificate_error) from exc
    except aiohttp.ClientSSLError as exc:
        raise _tls_failed(target, exc.os_error) from exc
    except aiohttp.ClientConnectorDNSError as exc:
        raise _unresolved(target, exc.os_error) from exc
    except aiohttp.ClientConnectorError as exc:
        raise _refused(target, exc.os_error) from exc
    except aiohttp.ConnectionTimeoutError as exc:
        raise _connect_timed_out(target, connect_timeout) from exc
    except aiohttp.ServerDisconnectedError as exc:
        raise closed_unanswered(target) from exc
    except aiohttp.ClientResponseError as exc:
        raise invalid_response(target, exc.message) from exc
    except (aiohttp.ClientError, OSError) as exc:
        raise _connection_failed(target, exc) from exc


def connect_error(target: Target, exc: BaseException, connect_timeout: float
                  ) -> UpstreamError:
    """The 502/504 for a connection to ``target`` that could not be opened.

    The same kinds and words as ``map_exceptions``, for the socket and ssl errors that
    ``pool`` meets without aiohttp. Order matters: certificate errors are SSL errors,
    and both are OSErrors.
    """
    if isinstance(exc, TimeoutError):
        return _connect_timed_out(target, connect_timeout)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return _certificate_failed(target, exc.verify_message)
    if isinstance(exc, ssl.SSLError):
        return _tls_failed(target, exc)
    if isinstance(exc, socket.gaierror):
        return _unresolved(target, exc)
    if isinstance(exc, OSError):
        return _refused(target, exc)
    return _connection_failed(target, exc)


# One wording per way of failing, whichever client met it.

def _connect_timed_out(target: Target, seconds: float) -> UpstreamError:
    return UpstreamError(
        504, "connect-timeout",
        f"no connection to {target.authority} within timeout.connect ({seconds:g}s)",
        "is the host reachable? raise `timeout: {connect: ...}` for slow networks",
    )


def _certificate_failed(target: Target, detail: object) -> UpstreamError:
    # A certificate for other names is no self-signed one: turning verification off
    # would hide a target that names the wrong host.
    hint = ("the certificate is for other names: write the target with a name it "
            "names (and `headers: {Host: ...}` if the site needs another)"
            if "mismatch" in str(detail).lower() else
            "a self-signed development certificate? set `secure: false` on this route")
    return UpstreamError(
        502, "tls", f"TLS certificate verification failed for {target.origin}: {detail}",
        hint)


def _tls_failed(target: Target, detail: object) -> UpstreamError:
    # A TLS alert is a TLS server answering (refusing the name asked, by SNI, say); a
    # record that is not TLS at all is a plain-HTTP server.
    hint = (f"the server refused the handshake: does it have a certificate for "
            f"{target.host} (the name devproxy asks for)?" if "ALERT" in str(detail) else
            "is the target really https? check the scheme of the target URL")
    return UpstreamError(502, "tls", f"TLS handshake with {target.origin} failed: {detail}",
                         hint)


def _unresolved(target: Target, detail: object) -> UpstreamError:
    return UpstreamError(
        502, "dns", f"cannot resolve {target.host!r}: {detail}",
        "check the host name in the target URL",
    )


def _refused(target: Target, exc: OSError | None) -> UpstreamError:
    return UpstreamError(
        502, "refused", f"cannot connect to {target.authority}: {_os_reason(exc)}",
        _refused_hint(target),
    )


def closed_while_idle(target: Target, method: str, idle: float, limit: float
                      ) -> UpstreamError:
    """The 502 for a request devproxy may not send again, written on a kept-alive
    connection the backend closed as it arrived (idle ``idle`` seconds, of the ``limit``
    devproxy gave it): a race, not a crash."""
    return UpstreamError(
        502, "keep-alive",
        f"{target.authority} closed a kept-alive connection (idle {idle:.1f}s) as this "
        f"{method} was sent on it; a {method} is not sent twice, as it may not be safe "
        f"to repeat (RFC 9110 §9.2.2)",
        f"the backend closes idle connections sooner than devproxy lets them go "
        f"(after {limit:g} s here, less when its Keep-Alive field says so): keep them open "
        f"longer (uvicorn --timeout-keep-alive 5, gunicorn --keep-alive 5), or have it "
        f"send Keep-Alive: timeout=N",
    )


def closed_unanswered(target: Target) -> UpstreamError:
    """The 502 for a backend that closed the connection before a whole response head."""
    return UpstreamError(
        502, "reset", f"{target.authority} closed the connection before answering",
        "the backend crashed or restarted while handling the request? check its log",
    )


def invalid_response(target: Target, detail: str, hint: str = NOT_HTTP) -> UpstreamError:
    """The 502 for a backend that answered with something that is not valid HTTP/1.x;
    ``hint`` says what to do (by default: check it is an HTTP server at all)."""
    return UpstreamError(
        502, "protocol", f"{target.authority} sent an invalid HTTP response: {detail}",
        hint,
    )


def invalid_handshake(target: Target, detail: str, hint: str = "") -> UpstreamError:
    """The 502 for a backend that answered a WebSocket handshake with an invalid 101
    (``hint``: what to do, where the detail knows better than the usual question)."""
    return UpstreamError(
        502, "protocol",
        f"{target.authority} accepted the WebSocket with an invalid handshake: {detail}",
        hint or "is the target a WebSocket server on that port and path?",
    )


def _connection_failed(target: Target, exc: BaseException) -> UpstreamError:
    return UpstreamError(
        502, "reset", f"connection to {target.authority} failed: {_describe(exc)}",
        "the backend crashed or restarted while handling the request? check its log",
    )


def busy_error(target: Target, cap: int, seconds: float, uploads: int = 0) -> UpstreamError:
    """The 504 for a request that waited in vain for one of a target's connections,
    ``uploads`` of them still carrying a request body when it gave up."""
    held = "open streams (SSE, long polls) each hold a connection"
    if uploads:  # not streams: bodies that take long to come (a stalled browser's)
        held = (f"{'each' if uploads >= cap else f'{uploads} of them'} still carried an "
                f"upload from the browser (a body over 64 KiB goes on as it comes, however "
                f"slowly)")
    return UpstreamError(
        504, "busy",
        f"{f'all {cap} connections' if cap > 1 else 'the one connection'} to "
        f"{target.authority} stayed in use for {seconds:g}s, so the request was never "
        f"sent (limits.upstream_connections: {cap})",
        f"{held}: raise limits.upstream_connections, or set it to 0 for no cap",
    )


def response_timeout_error(target: Target, seconds: float) -> UpstreamError:
    """The 504 for a backend that took longer than ``timeout.response`` to answer."""
    return UpstreamError(
        504, "response-timeout",
        f"{target.authority} sent no response headers within timeout.response ({seconds:g}s)",
        "the backend is slow or stuck; raise `timeout: {response: ...}` if that is expected",
    )


def upload_stalled_error(target: Target, seconds: float, unsent: int) -> UpstreamError:
    """The 504 for a backend that stopped reading the request body, and never answered."""
    return UpstreamError(
        504, "upload-stalled",
        f"{target.authority} stopped reading the request body: it took none of it for "
        f"timeout.response ({seconds:g}s), and sent no response ({unsent} bytes it had "
        f"not taken)",
        "the backend is stuck, or reads the body only after something else (a lock, "
        "another request); raise `timeout: {response: ...}` if a pause that long is "
        "expected, or if it reads less than some 64 KiB in that time",
    )


@dataclass(frozen=True, slots=True)
class AddressAttempt:
    address: str
    error: str  # "" when a connection could be opened


async def diagnose(target: Target) -> list[AddressAttempt]:
    """Try every address ``target`` resolves to and say what happened to each.

    Only called after a connection failure, to name each address tried in the 502
    and in the log; bounded to ``_DIAGNOSE_TIMEOUT`` per address, all concurrently.
    """
    try:
        infos = await LoopbackResolver().resolve(target.host, target.port, socket.AF_UNSPEC)
    except OSError as exc:
        return [AddressAttempt(target.host, _describe(exc))]
    return list(await asyncio.gather(*(_probe(i["host"], target.port) for i in infos)))


async def _probe(host: str, port: int) -> AddressAttempt:
    shown = f"{url_host(host)}:{port}"
    try:
        async with asyncio.timeout(_DIAGNOSE_TIMEOUT):
            _, writer = await asyncio.open_connection(host, port)
    except TimeoutError:
        return AddressAttempt(shown, "no answer (timed out)")
    except OSError as exc:
        return AddressAttempt(shown, _os_reason(exc))
    writer.close()
    return AddressAttempt(shown, "")


async def speaks_tls(target: Target, context: ssl.SSLContext) -> bool:
    """Whether ``target``'s port completes a TLS handshake (``context`` accepting any
    certificate: only the protocol is asked): an ``http://`` target that closed the
    connection or answered garbage is often an HTTPS server (Vite with
    ``server.https``). Only called after such a failure; bounded to one second."""
    try:
        async with asyncio.timeout(_DIAGNOSE_TIMEOUT):
            _, writer = await asyncio.open_connection(
                target.host, target.port, ssl=context,
                server_hostname=None if is_ip(target.host) else target.host)
    except (OSError, TimeoutError, ssl.SSLError):
        return False
    writer.close()
    return True


def served_over_tls(target: Target, err: UpstreamError) -> UpstreamError:
    """``err`` for an ``http://`` target found to speak TLS, with the fix."""
    return UpstreamError(
        err.status_hint, err.kind, f"{err.detail}; it speaks HTTPS on that port",
        f"write the target as https://{target.authority}{target.base_path} (a Vite dev "
        "server with server.https or @vitejs/plugin-basic-ssl, for one), with "
        "secure: false for a self-signed certificate")


# Failures that say a backend is not there. A slow answer, a TLS or HTTP mistake and
# all connections busy come from a backend that is up: its next answer is no return.
# Nor is "reset": a backend that took the connection and closed it unanswered is up (a
# handler that crashed the request); one that then stays down is refused next.
_DOWN = frozenset({"refused", "connect-timeout", "dns"})


class Outages:
    """Which targets are currently failing, so each outage is logged once.

    Owned by one app; mutated only from the event loop thread.
    """

    def __init__(self) -> None:
        self._since: dict[str, tuple[float, bool]] = {}  # url -> (since, down)

    def failed(self, target: Target, kind: str = "refused") -> bool:
        """Record a failure of ``kind`` (``UpstreamError.kind``); True if this starts a
        new outage (log it)."""
        since = self._since.get(target.url)
        down = kind in _DOWN
        if since is not None and (since[1] or not down):
            return False
        # New, or a slow backend now gone (stopped after a 504): an outage starts.
        self._since[target.url] = (time.monotonic(), down)
        return True

    def succeeded(self, target: Target) -> None:
        """Record a success; log the end of an outage once, with how long it lasted."""
        if not self._since:
            return  # the common case: nothing is down
        since = self._since.pop(target.url, None)
        if since is not None and since[1]:
            # The target's, not the route's: another route may have been the one asked.
            logger.warning("%s is answering again (down %.1fs)", target.url,
                           time.monotonic() - since[0])


def _refused_hint(target: Target) -> str:
    if is_localhost(target.host):
        return "is the backend running? is it listening on this port?"
    if target.host in ("127.0.0.1", "::1"):
        other = "::1" if target.host == "127.0.0.1" else "127.0.0.1"
        return (
            f"is the backend running? it may listen on {other} only: "
            f"try target http://localhost:{target.port}, which tries both"
        )
    return "is the backend running and reachable from this machine?"


def _os_reason(exc: OSError | None) -> str:
    if exc is None:
        return "connection failed"
    if isinstance(exc, ssl.SSLError):
        return str(exc)
    if exc.errno == errno.ECONNREFUSED:
        return "connection refused"
    if exc.errno is not None:
        return errno.errorcode.get(exc.errno, str(exc.errno)) + ": " + (exc.strerror or "")
    return _describe(exc)


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


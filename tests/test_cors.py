"""CORS decisions and the browser's checks, from the Fetch standard's rules."""

from __future__ import annotations

import re

import pytest
import yaml
from multidict import CIMultiDict

from devproxy import cors
from devproxy.config import CorsPolicy, parse_origin
from devproxy.cors import (
    CorsRules,
    Verdict,
    cors_check,
    cors_header_names,
    is_cors_header,
    is_preflight,
    merge_vary,
    needs_preflight,
    preflight_check,
    readable_headers,
    refusal_body,
    refusal_of,
    unsafe_request_headers,
)
from devproxy.corsadvice import Ask, answered_by_devproxy, cause, fixes

FRONT = "http://localhost:5173"
CREDS = CorsRules(CorsPolicy(origins=(FRONT, "http://127.0.0.1:*"), credentials=True,
                             expose=("X-Total-Count",), max_age=600))
ANY = CorsRules(CorsPolicy(origins=("*",)))
STRICT = CorsRules(CorsPolicy(origins=(FRONT,), methods=("GET", "PUT"),
                              headers=("Content-Type", "Authorization"),
                              private_network=True))


@pytest.mark.parametrize(("rules", "origin", "allowed"), [
    pytest.param(CREDS, FRONT, True, id="exact-origin"),
    pytest.param(CREDS, "http://localhost:5174", False, id="other-port"),
    pytest.param(CREDS, "https://localhost:5173", False, id="other-scheme"),
    pytest.param(CREDS, "http://127.0.0.1:3000", True, id="wildcard-port"),
    pytest.param(CREDS, "http://127.0.0.1", True, id="wildcard-port-default-port"),
    pytest.param(CREDS, "http://127.0.0.10:3000", False, id="wildcard-port-needs-same-host"),
    pytest.param(CREDS, "null", False, id="null-is-not-listed"),
    pytest.param(ANY, "http://anything.example", True, id="star-allows-any"),
    pytest.param(ANY, "null", False, id="star-does-not-allow-null"),
    pytest.param(CorsRules(CorsPolicy(origins=("http://[::1]:*",))), "http://[::1]:5173", True,
                 id="wildcard-port-ipv6"),
])
def test_origin_allowlist(rules: CorsRules, origin: str, allowed: bool) -> None:
    assert rules.allows(origin) is allowed


def test_preflight_with_credentials_lists_headers_explicitly() -> None:
    answer = CREDS.preflight(FRONT, "PUT", "content-type, authorization, x-custom")
    assert answer.allowed
    headers = dict(answer.headers)
    assert headers["Access-Control-Allow-Origin"] == FRONT
    assert headers["Access-Control-Allow-Credentials"] == "true"
    # The common methods: Chromium caches one preflight per URL, which the next one
    # replaces, so naming only PUT would cost a DELETE its own preflight.
    assert headers["Access-Control-Allow-Methods"] == "GET, HEAD, POST, PUT, PATCH, DELETE"
    assert headers["Access-Control-Allow-Headers"] == "content-type, authorization, x-custom"
    assert headers["Access-Control-Max-Age"] == "600"
    assert headers["Vary"] == ("Origin, Access-Control-Request-Method, "
                               "Access-Control-Request-Headers")
    assert "*" not in answer.headers[0][1]


@pytest.mark.parametrize(("credentials", "method", "methods", "names"), [
    (False, "DELETE", "GET, HEAD, POST, PUT, PATCH, DELETE", "x-a, *"),
    (False, "PROPFIND", "GET, HEAD, POST, PUT, PATCH, DELETE, PROPFIND", "x-a, *"),
    # With credentials "*" is a header called "*": only the names asked.
    (True, "PUT", "GET, HEAD, POST, PUT, PATCH, DELETE", "x-a"),
])
def test_a_preflight_answer_covers_more_than_its_own_ask_where_any_is_allowed(
        credentials: bool, method: str, methods: str, names: str) -> None:
    rules = CorsRules(CorsPolicy(origins=(FRONT,), credentials=credentials, max_age=600))
    headers = dict(rules.preflight(FRONT, method, "x-a").headers)
    assert headers["Access-Control-Allow-Methods"] == methods
    assert headers["Access-Control-Allow-Headers"] == names
    # What the browser then checks: the request it preflighted passes.
    assert preflight_check(FRONT, method, ["x-a"], credentials, 204, list(headers.items())).ok
    # And so does one with another of those methods and another header, from the cache.
    other = "PATCH" if method != "PATCH" else "PUT"
    assert preflight_check(FRONT, other, ["x-b"], credentials, 204,
                           list(headers.items())).ok is not credentials


@pytest.mark.parametrize(("origin", "method", "request_headers", "reason"), [
    pytest.param("http://evil.example", "GET", None, "origin http://evil.example is not in",
                 id="origin-not-listed"),
    pytest.param(FRONT, "DELETE", None, "method DELETE is not in cors.methods",
                 id="method-not-listed"),
    pytest.param(FRONT, "PUT", "x-custom", "x-custom not in cors.headers",
                 id="header-not-listed"),
    pytest.param(FRONT, "put", None, "method 'put' is not upper case", id="lower-case"),
])
def test_refused_preflight_says_which_rule_failed(origin, method, request_headers, reason):
    answer = STRICT.preflight(origin, method, request_headers)
    assert not answer.allowed
    assert reason in answer.reason
    assert answer.headers == ()


@pytest.mark.parametrize("rules", [STRICT, CREDS], ids=["methods-listed", "methods-reflected"])
def test_a_lower_case_method_is_refused_with_the_fix(rules: CorsRules) -> None:
    # fetch(url, {method: "patch"}) asks for "patch" as written: allowing it would fail
    # in the browser (it compares case-sensitively) or at the server's parser.
    answer = rules.preflight(FRONT, "patch", None)
    assert not answer.allowed
    assert answer.fix == "write 'PATCH' in the page's fetch() call"


@pytest.mark.parametrize("rules", [STRICT, CREDS], ids=["methods-listed", "methods-reflected"])
def test_a_method_the_parser_refuses_is_refused_at_the_preflight(rules: CorsRules) -> None:
    # Allowed, the browser would send it and get the parser's 501, without CORS headers.
    answer = rules.preflight(FRONT, "FOO", None, method_read=False)
    assert not answer.allowed
    assert answer.by_page and answer.setting == ""  # no cors: setting can allow it
    assert "cannot take a FOO request" in answer.reason
    assert answer.fix.startswith("send FOO as POST")


@pytest.mark.parametrize(("origin", "method", "request_headers", "read"), [
    ("http://evil.example", "GET", None, True), ("null", "GET", None, True),
    (FRONT, "patch", None, True), (FRONT, "FOO", None, False), (FRONT, "DELETE", None, True),
    (FRONT, "PUT", "x-a, x-b", True),
])
def test_a_refusal_reads_back_from_its_body(origin, method, request_headers, read) -> None:
    # The doctor explains devproxy's 403 from its body alone: reason, fix, and whose fix.
    answer = STRICT.preflight(origin, method, request_headers, method_read=read)
    assert not answer.allowed
    back = refusal_of(refusal_body(answer))
    assert back is not None
    assert (back.reason, back.fix, back.by_page) == (answer.reason, answer.fix,
                                                    answer.by_page)
    assert refusal_of("Forbidden\n") is None


def test_configured_methods_and_headers_are_listed_and_safelisted_method_passes() -> None:
    answer = STRICT.preflight(FRONT, "POST", "authorization")
    assert answer.allowed
    headers = dict(answer.headers)
    assert headers["Access-Control-Allow-Methods"] == "GET, PUT"
    assert headers["Access-Control-Allow-Headers"] == "Content-Type, Authorization"


@pytest.mark.parametrize(("asked", "enabled", "granted"), [
    pytest.param(True, True, True, id="asked-and-enabled"),
    pytest.param(True, False, False, id="asked-not-enabled"),
    pytest.param(False, True, False, id="enabled-not-asked"),
])
def test_private_network_is_granted_only_when_asked_and_enabled(asked, enabled, granted):
    rules = STRICT if enabled else CorsRules(CorsPolicy(origins=(FRONT,)))
    headers = dict(rules.preflight(FRONT, "GET", None, private_network=asked).headers)
    assert ("Access-Control-Allow-Private-Network" in headers) is granted
    # RFC 9110 §12.5.5: Vary names every request field the answer depends on.
    assert ("Access-Control-Request-Private-Network" in headers["Vary"]) is enabled


def test_actual_response_reflects_only_allowed_origins() -> None:
    assert CREDS.actual(FRONT) == (
        ("Access-Control-Allow-Origin", FRONT),
        ("Access-Control-Allow-Credentials", "true"),
        ("Access-Control-Expose-Headers", "X-Total-Count"),
    )
    assert CREDS.actual("http://evil.example") is None
    assert CREDS.actual(None) is None


@pytest.mark.parametrize(("method", "headers", "expected"), [
    pytest.param("OPTIONS", {"Origin": FRONT, "Access-Control-Request-Method": "PUT"}, True,
                 id="options-with-both"),
    pytest.param("OPTIONS", {"Origin": FRONT}, False, id="plain-options-is-not-a-preflight"),
    pytest.param("OPTIONS", {"Access-Control-Request-Method": "PUT"}, False, id="no-origin"),
    pytest.param("GET", {"Origin": FRONT, "Access-Control-Request-Method": "PUT"}, False,
                 id="not-options"),
])
def test_is_preflight(method, headers, expected) -> None:
    assert is_preflight(method, CIMultiDict(headers)) is expected


@pytest.mark.parametrize(("existing", "merged"), [
    pytest.param([], "Origin", id="none"),
    pytest.param(["Accept-Encoding"], "Accept-Encoding, Origin", id="appended"),
    pytest.param(["accept-encoding, origin"], "accept-encoding, origin", id="already-there"),
    pytest.param(["Accept", "Cookie"], "Accept, Cookie, Origin", id="two-headers-joined"),
    pytest.param(["*"], "*", id="star-stays-star"),
])
def test_merge_vary(existing, merged) -> None:
    assert merge_vary(existing) == merged


def test_cors_header_names_are_the_ones_is_cors_header_accepts() -> None:
    names = ["Access-Control-Allow-Origin", "access-control-max-age", "ACCESS-CONTROL-X",
             "Access-Control", "Access-Controls-Allow", "X-Access-Control-Allow-Origin",
             "Vary", "", "Content-Type", "access-control-"]
    assert cors_header_names(names) == [n for n in names if is_cors_header(n)]
    assert cors_header_names(names) == ["Access-Control-Allow-Origin",
                                        "access-control-max-age", "ACCESS-CONTROL-X",
                                        "access-control-"]


@pytest.mark.parametrize(("headers", "unsafe"), [
    pytest.param([("Accept", "application/json")], [], id="accept"),
    pytest.param([("Content-Type", "text/plain;charset=UTF-8")], [], id="text-plain"),
    pytest.param([("Content-Type", "application/x-www-form-urlencoded")], [], id="form"),
    pytest.param([("Content-Type", "application/json")], ["content-type"], id="json"),
    pytest.param([("Authorization", "Bearer x")], ["authorization"], id="authorization"),
    pytest.param([("Accept-Language", "en-US,en;q=0.9")], [], id="accept-language"),
    pytest.param([("Content-Language", "en(US)")], ["content-language"],
                 id="content-language-bad-byte"),
    pytest.param([("Accept", "a" * 129)], ["accept"], id="value-over-128-bytes"),
    pytest.param([("Range", "bytes=0-99")], [], id="simple-range"),
    pytest.param([("Range", "bytes=0-9,20-29")], ["range"], id="multi-range"),
    pytest.param([("X-Requested-With", "XMLHttpRequest")], ["x-requested-with"], id="custom"),
    pytest.param([("Accept", "a" * 100)] * 11, ["accept"], id="safelisted-total-over-1024"),
])
def test_unsafe_request_headers(headers, unsafe) -> None:
    assert unsafe_request_headers(headers) == unsafe


def test_needs_preflight_names_each_reason() -> None:
    assert needs_preflight("GET", [("Accept", "*/*")]) == []
    assert needs_preflight("PUT", [("Content-Type", "application/json")]) == [
        "method PUT is not one of GET, HEAD, POST",
        "header content-type is not CORS-safelisted",
    ]


@pytest.mark.parametrize(("credentials", "response", "reason"), [
    pytest.param(False, [], "No 'Access-Control-Allow-Origin' header is present", id="missing"),
    pytest.param(False, [("Access-Control-Allow-Origin", "*")], "", id="star-without-creds"),
    pytest.param(True, [("Access-Control-Allow-Origin", "*"),
                        ("Access-Control-Allow-Credentials", "true")],
                 "must not be the wildcard '*'", id="star-with-credentials"),
    pytest.param(False, [("Access-Control-Allow-Origin", FRONT),
                         ("Access-Control-Allow-Origin", FRONT)],
                 "contains multiple values", id="duplicate-acao-from-backend-and-proxy"),
    pytest.param(False, [("Access-Control-Allow-Origin", f"{FRONT}, {FRONT}")],
                 "contains multiple values", id="comma-joined-acao"),
    pytest.param(False, [("Access-Control-Allow-Origin", "http://localhost:3000")],
                 "has a value 'http://localhost:3000' that is not equal", id="other-origin"),
    pytest.param(False, [("Access-Control-Allow-Origin", FRONT + "/")],
                 "not equal to the supplied origin", id="trailing-slash"),
    # Chromium's words for a value that is no URL, and for two separated by a space.
    pytest.param(False, [("Access-Control-Allow-Origin", "")],
                 "contains the invalid value ''", id="empty-acao"),
    pytest.param(False, [("Access-Control-Allow-Origin", "localhost:5173")],
                 "has a value 'localhost:5173' that is not equal", id="host-port-reads-as-url"),
    pytest.param(False, [("Access-Control-Allow-Origin", "example.com")],
                 "contains the invalid value 'example.com'", id="no-scheme"),
    pytest.param(False, [("Access-Control-Allow-Origin", "http://")],
                 "contains the invalid value 'http://'", id="no-host"),
    pytest.param(False, [("Access-Control-Allow-Origin", "null")],
                 "has a value 'null' that is not equal", id="null-is-an-origin"),
    pytest.param(False, [("Access-Control-Allow-Origin", f"{FRONT} {FRONT}")],
                 "contains multiple values", id="space-separated-acao"),
    pytest.param(True, [("Access-Control-Allow-Origin", FRONT)],
                 "'Access-Control-Allow-Credentials' header in the response is ''",
                 id="credentials-missing"),
    pytest.param(True, [("Access-Control-Allow-Origin", FRONT),
                        ("Access-Control-Allow-Credentials", "True")],
                 "is 'True' which must be 'true'", id="credentials-case-matters"),
    pytest.param(True, [("access-control-allow-origin", FRONT),
                        ("ACCESS-CONTROL-ALLOW-CREDENTIALS", "true")], "",
                 id="header-names-case-insensitive"),
])
def test_cors_check(credentials, response, reason) -> None:
    verdict = cors_check(FRONT, credentials, response)
    assert verdict.ok is (reason == "")
    assert reason in verdict.reason


ALLOW = [("Access-Control-Allow-Origin", FRONT)]


@pytest.mark.parametrize(("method", "unsafe", "credentials", "status", "extra", "reason"), [
    pytest.param("PUT", [], False, 204, [("Access-Control-Allow-Methods", "PUT")], "",
                 id="method-listed"),
    pytest.param("PUT", [], False, 204, [("Access-Control-Allow-Methods", "GET, POST")],
                 "Method PUT is not allowed", id="method-not-listed"),
    pytest.param("PUT", [], False, 204, [("Access-Control-Allow-Methods", "*")], "",
                 id="method-star-without-credentials"),
    pytest.param("PUT", [], True, 204, [("Access-Control-Allow-Methods", "*"),
                                        ("Access-Control-Allow-Credentials", "true")],
                 "Method PUT is not allowed", id="method-star-is-literal-with-credentials"),
    pytest.param("GET", ["x-custom"], False, 204, [("Access-Control-Allow-Headers", "*")], "",
                 id="header-star-covers-custom"),
    pytest.param("GET", ["authorization"], False, 204, [("Access-Control-Allow-Headers", "*")],
                 "", id="header-star-covers-authorization-in-chromium"),
    pytest.param("PUT", [], False, 204, [("Access-Control-Allow-Methods", "PUT, DEL ETE")],
                 "Cannot parse Access-Control-Allow-Methods response header field",
                 id="methods-item-not-a-token"),
    pytest.param("PUT", [], False, 204, [("Access-Control-Allow-Methods", "PUT;")],
                 "Cannot parse Access-Control-Allow-Methods", id="methods-semicolon"),
    pytest.param("DELETE", [], False, 204, [("Access-Control-Allow-Methods", "PUT,,DELETE,")],
                 "", id="methods-empty-items-skipped"),
    pytest.param("GET", ["x-foo"], False, 204, [("Access-Control-Allow-Headers", "x-foo, x bar")],
                 "Cannot parse Access-Control-Allow-Headers response header field",
                 id="headers-item-not-a-token"),
    pytest.param("GET", ["x-b"], False, 204, [("Access-Control-Allow-Headers", "x-a"),
                                              ("Access-Control-Allow-Headers", " x-b ")],
                 "", id="headers-lines-combine"),
    pytest.param("GET", ["x-custom"], True, 204, [("Access-Control-Allow-Headers", "*"),
                                                   ("Access-Control-Allow-Credentials", "true")],
                 "Request header field x-custom is not allowed",
                 id="header-star-is-literal-with-credentials"),
    pytest.param("GET", ["x-custom"], False, 204, [("Access-Control-Allow-Headers", "X-Custom")],
                 "", id="header-names-case-insensitive"),
    pytest.param("GET", [], False, 404, [], "It does not have HTTP ok status",
                 id="preflight-not-ok"),
    pytest.param("GET", [], False, 302, [], "Redirect is not allowed for a preflight",
                 id="preflight-redirected"),
])
def test_preflight_check(method, unsafe, credentials, status, extra, reason) -> None:
    verdict = preflight_check(FRONT, method, unsafe, credentials, status, ALLOW + extra)
    assert verdict.ok is (reason == "")
    assert reason in verdict.reason


def test_a_star_covering_authorization_passes_with_a_warning() -> None:
    # Chromium 156 lets "*" cover Authorization; the Fetch standard (§4.8) does not.
    verdict = preflight_check(FRONT, "GET", ["authorization"], False, 204,
                              [*ALLOW, ("Access-Control-Allow-Headers", "*")])
    assert verdict.ok and verdict.warning == cors.AUTHORIZATION_BY_WILDCARD
    named = preflight_check(FRONT, "GET", ["authorization"], False, 204,
                            [*ALLOW, ("Access-Control-Allow-Headers", "*, Authorization")])
    assert named.ok and not named.warning
    with_credentials = preflight_check(FRONT, "GET", ["authorization"], True, 204, [
        *ALLOW, ("Access-Control-Allow-Headers", "*"),
        ("Access-Control-Allow-Credentials", "true")])
    assert not with_credentials.ok and with_credentials.kind == cors.HEADER_NOT_ALLOWED


@pytest.mark.parametrize(("field", "example"), [
    ("Access-Control-Allow-Methods", "'GET, POST, PUT'"),
    ("Access-Control-Allow-Headers", "'Content-Type, Authorization'"),
])
def test_a_list_that_does_not_parse_is_explained_with_an_example_of_its_own(
        field: str, example: str) -> None:
    verdict = preflight_check(FRONT, "PUT", ["x-a"], False, 204, [*ALLOW, (field, "PUT;")])
    assert verdict.kind == cors.INVALID_ALLOW_LIST
    said = cause(verdict, Ask(FRONT, "PUT", ("x-a",), False))
    assert said.endswith(f"Send, say, {example}.") and f"{field} is 'PUT;'" in said


def test_an_expose_list_that_does_not_parse_exposes_nothing() -> None:
    response = [("Access-Control-Expose-Headers", "X-A X-B, X-C"), ("X-A", "1"), ("X-C", "1")]
    assert readable_headers(response, False) == ([], ["access-control-expose-headers",
                                                      "x-a", "x-c"])
    response[0] = ("Access-Control-Expose-Headers", "X-A, , X-C")
    assert readable_headers(response, False)[0] == ["x-a", "x-c"]


def test_devproxys_own_preflight_passes_the_browsers_check() -> None:
    unsafe = unsafe_request_headers([("Content-Type", "application/json"),
                                     ("Authorization", "Bearer t")])
    answer = CREDS.preflight(FRONT, "PATCH", ", ".join(unsafe))
    assert preflight_check(FRONT, "PATCH", unsafe, True, 204, list(answer.headers)).ok
    assert cors_check(FRONT, True, list(CREDS.actual(FRONT) or ())).ok


@pytest.mark.parametrize(("text", "message"), [
    pytest.param("http://localhost:5173/", "write 'http://localhost:5173'", id="trailing-slash"),
    pytest.param("http://localhost:5173/app", "no path", id="path"),
    pytest.param("HTTP://LOCALHOST:5173", "lower case", id="upper-case"),
    pytest.param("https://example.com:443", "write 'https://example.com'", id="default-port"),
    pytest.param("localhost:5173", "expected an origin", id="no-scheme"),
    pytest.param("http://x:abc", "invalid port", id="bad-port"),
    pytest.param("http://localhost:99999", "invalid port", id="port-too-high"),
    pytest.param("http://:5173", "no host", id="no-host"),
    pytest.param("http://local host:1", "invalid host 'local host'", id="space-in-host"),
    pytest.param("http://*.example.test", "only the port may be '*'", id="wildcard-host"),
    pytest.param("http://me:pw@localhost", "no user name or password", id="userinfo"),
    pytest.param("http://bücher.example", "write 'http://xn--bcher-kva.example'", id="idn"),
    pytest.param("http://[0:0:0:0:0:0:0:1]:3000", "write 'http://[::1]:3000'", id="ipv6-long"),
    pytest.param("http://[zz]:3000", "invalid IPv6 address", id="ipv6-bad"),
    # URL §4.4 and §3.5: what the browser serialises for a port and an IPv4 address.
    pytest.param("http://localhost:0045101", "write 'http://localhost:45101'",
                 id="port-leading-zeros"),
    pytest.param("http://127.000.000.001:3000", "write 'http://127.0.0.1:3000'",
                 id="ipv4-octal-parts"),
    pytest.param("http://0x7f.0.0.1:3000", "write 'http://127.0.0.1:3000'", id="ipv4-hex"),
    pytest.param("http://2130706433:3000", "write 'http://127.0.0.1:3000'",
                 id="ipv4-one-number"),
    pytest.param("http://127.1:3000", "write 'http://127.0.0.1:3000'", id="ipv4-two-parts"),
    pytest.param("http://1.2.3.256", "out of the IPv4 range", id="ipv4-out-of-range"),
    pytest.param("http://app.1", "neither a name nor an IPv4 address", id="number-ended-name"),
    pytest.param("http://localhost:5173#", "no query or fragment", id="fragment"),
    pytest.param("http://localhost:\uff15\uff11\uff17\uff13", "write it in ASCII digits 0-9",
                 id="full-width-port"),
])
def test_origin_written_wrongly_shows_the_serialisation(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_origin(text)


@pytest.mark.parametrize("text", ["http://[::1]:5173", "http://my_app:3000", "http://localhost:*",
                                  "https://api.example.com", "null", "*",
                                  "http://192.168.1.20:8080", "http://1x.example",
                                  "http://0.0.0.0:3000"])
def test_origins_as_browsers_send_them_are_accepted(text: str) -> None:
    assert parse_origin(text) == text


def test_origin_null_is_never_advised_into_the_allowlist() -> None:
    # A cross-origin redirect taints the origin to "null"; "add 'null' to cors.origins"
    # (and the inspector's `origins: [null]`, YAML's null) would let every sandboxed
    # page read the responses.
    from devproxy.cors import NULL_ORIGIN, cors_check
    from devproxy.corsadvice import Ask, fixes

    rules = CorsRules(CorsPolicy(origins=("http://localhost:5173",), credentials=True))
    answer = rules.preflight("null", "PUT", None)
    assert not answer.allowed and answer.fix == NULL_ORIGIN
    verdict = cors_check("null", True, {})
    [fix] = fixes(verdict, Ask("null", "GET", (), True))
    assert "redirected to another origin" in fix.text and "cors.origins" not in fix.text


def test_allow_credentials_sent_twice_is_blamed_on_two_layers() -> None:
    # Fetch §4.9 gets the field combined: "true, true" is not "true" (Chromium blocks).
    from devproxy.cors import CREDENTIALS_NOT_TRUE, cors_check
    from devproxy.corsadvice import cause

    page = "http://localhost:5173"
    verdict = cors_check(page, True, [("Access-Control-Allow-Origin", page),
                                      ("Access-Control-Allow-Credentials", "true"),
                                      ("Access-Control-Allow-Credentials", "true")])
    assert verdict.kind == CREDENTIALS_NOT_TRUE and verdict.subject == "true, true"
    ask = Ask(page, "GET", (), True)
    assert "Two layers each add Access-Control-Allow-Credentials" in cause(verdict, ask)
    assert fixes(verdict, ask)[0].text.startswith("backend_cors: replace")


@pytest.mark.parametrize(("policy", "ask", "lines"), [
    # A wildcard cannot carry credentials: the fix names the page's origin instead.
    (CorsPolicy(origins=("*",)), ("GET", (), True),
     ["  origins: [http://localhost:5173]", "  credentials: true"]),
    # Allowed already; the method is what is missing.
    (CorsPolicy(origins=("http://localhost:*",), methods=("GET", "PUT")),
     ("DELETE", (), False),
     ["  origins: [http://localhost:*]", "  methods: [GET, PUT, DELETE]"]),
    # The backend's own headers fail: devproxy should answer instead.
    (CorsPolicy(origins=("http://localhost:5173",), backend_cors="keep"), ("GET", (), False),
     ["  origins: [http://localhost:5173]",
      "  backend_cors: replace   # devproxy answers CORS, not the backend"]),
])
def test_the_devproxy_fix_keeps_what_the_block_already_allows(
        policy: CorsPolicy, ask: tuple[str, tuple[str, ...], bool], lines: list[str]) -> None:
    from devproxy.cors import cors_check
    from devproxy.corsadvice import Ask, fixes

    verdict = cors_check("http://localhost:5173", ask[2], {})
    fix = fixes(verdict, Ask("http://localhost:5173", *ask), policy, "dev.yaml")[0]
    assert fix.tool == "devproxy (dev.yaml)"
    assert fix.text.split("\n")[1:] == lines


def test_devproxys_own_refused_headers_are_told_in_one_sentence() -> None:
    verdict = cors_check(FRONT, False, [])  # Chromium's words end with a full stop
    said = answered_by_devproxy(verdict, Ask(FRONT, "GET", (), False),
                                CorsPolicy(origins=(FRONT,)), "devproxy.yaml")
    assert "requested resource. The backend's" in said and ".." not in said, said


@pytest.mark.parametrize(("current", "ask", "origins"), [
    # Unquoted, "*" is a YAML alias and the pasted block does not load.
    (CorsPolicy(origins=("*",), methods=("GET", "POST"), headers=("Content-Type",)),
     Ask("http://localhost:44010", "PUT", (), False), ["*"]),
    # Unquoted, null is no value at all: "cors.origins[1]: missing value".
    (CorsPolicy(origins=(FRONT, "null"), methods=("GET",)),
     Ask("http://localhost:44010", "PUT", (), False), [FRONT, "null", "http://localhost:44010"]),
    # A final ":" would make a mapping.
    (CorsPolicy(origins=("app:",), methods=("GET",)),
     Ask("http://localhost:44010", "PUT", (), False), ["app:", "http://localhost:44010"]),
    # Brackets would end the flow list; a port wildcard's "*" is fine past the start.
    (CorsPolicy(origins=("http://[::1]:5173", "http://127.0.0.1:*"), methods=("GET",)),
     Ask("http://localhost:44010", "PUT", (), False),
     ["http://[::1]:5173", "http://127.0.0.1:*", "http://localhost:44010"]),
])
def test_the_devproxy_fix_is_yaml_that_reads_back_as_written(
        current: CorsPolicy, ask: Ask, origins: list[str]) -> None:
    [ours, *_] = fixes(Verdict(False, "refused", "method"), ask, current)
    block = yaml.safe_load(ours.text)["cors"]
    assert block["origins"] == origins
    assert block["methods"][-1] == "PUT"


def test_allowed_lists_are_the_preflight_answers_names_as_written() -> None:
    assert cors.allowed_lists([("Access-Control-Allow-Methods", "GET,HEAD,PUT"),
                               ("Access-Control-Allow-Headers", "Content-Type"),
                               ("access-control-allow-headers", " X-A ,")]) == \
        (("GET", "HEAD", "PUT"), ("Content-Type", "X-A"))
    # Absent, or not a list the browser reads: nothing to keep.
    assert cors.allowed_lists([("Access-Control-Allow-Methods", "GET; PUT")]) == (None, None)


# The preflight of fetch(url, {method: "PUT", headers: {"Content-Type":
# "application/json", "X-Custom": "1"}}) to an Express backend whose cors() allows only
# Content-Type: the fix must not replace that list with x-custom alone, or the next
# JSON POST fails on content-type.
EXPRESS_ANSWER = [("Access-Control-Allow-Origin", FRONT),
                  ("Access-Control-Allow-Methods", "GET,HEAD,PUT,PATCH,POST,DELETE"),
                  ("Access-Control-Allow-Headers", "Content-Type")]


@pytest.mark.parametrize(("tool", "text"), [
    pytest.param("Express", "methods: ['GET', 'HEAD', 'PUT', 'PATCH', 'POST', 'DELETE'], "
                 "allowedHeaders: ['Content-Type', 'x-custom']", id="express"),
    pytest.param("Flask", "methods=[\"GET\", \"HEAD\", \"PUT\", \"PATCH\", \"POST\", "
                 "\"DELETE\"], allow_headers=[\"Content-Type\", \"x-custom\"]", id="flask"),
    pytest.param("FastAPI", "allow_headers=[\"Content-Type\", \"x-custom\"]", id="fastapi"),
    pytest.param("nginx", 'add_header Access-Control-Allow-Headers "Content-Type, x-custom" '
                 "always;", id="nginx"),
    pytest.param("Django", 'CORS_ALLOW_HEADERS = (*default_headers, "x-custom")',
                 id="django"),
])
def test_a_servers_fix_keeps_the_names_its_preflight_answer_allowed(tool: str,
                                                                    text: str) -> None:
    unsafe = ["content-type", "x-custom"]
    verdict = preflight_check(FRONT, "PUT", unsafe, False, 204, EXPRESS_ANSWER)
    assert verdict.kind == cors.HEADER_NOT_ALLOWED and verdict.subject == "x-custom"
    ask = Ask(FRONT, "PUT", tuple(unsafe), False, *cors.allowed_lists(EXPRESS_ANSWER))
    [fix] = [f for f in fixes(verdict, ask) if f.tool.startswith(tool)]
    assert text in fix.text


def test_a_method_fix_keeps_the_methods_and_headers_the_answer_named() -> None:
    answer = [("Access-Control-Allow-Origin", FRONT),
              ("Access-Control-Allow-Methods", "GET, POST, PURGE"),
              ("Access-Control-Allow-Headers", "X-Api-Key")]
    verdict = preflight_check(FRONT, "PUT", [], False, 204, answer)
    assert verdict.kind == cors.METHOD_NOT_ALLOWED
    ask = Ask(FRONT, "PUT", (), False, *cors.allowed_lists(answer))
    found = {f.tool.split(" ")[0]: f.text for f in fixes(verdict, ask)}
    assert "methods: ['GET', 'POST', 'PURGE', 'PUT'], allowedHeaders: ['X-Api-Key']" \
        in found["Express"]
    # django-cors-headers' defaults have PUT: only what they lack is added.
    assert 'CORS_ALLOW_METHODS = (*default_methods, "PURGE")' in found["Django"]
    assert 'CORS_ALLOW_HEADERS = (*default_headers, "X-Api-Key")' in found["Django"]
    # No preflight seen (a simple request's verdict): the common methods, as before.
    plain = {f.tool.split(" ")[0]: f.text for f in fixes(verdict, Ask(FRONT, "PUT", (), False))}
    assert "methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] })" in plain["Express"]


def test_a_star_taken_literally_is_replaced_by_the_names_not_added_to() -> None:
    answer = [("Access-Control-Allow-Origin", FRONT), ("Access-Control-Allow-Credentials",
                                                       "true"),
              ("Access-Control-Allow-Methods", "PUT"), ("Access-Control-Allow-Headers", "*")]
    verdict = preflight_check(FRONT, "PUT", ["x-custom"], True, 204, answer)
    ask = Ask(FRONT, "PUT", ("x-custom",), True, *cors.allowed_lists(answer))
    first = fixes(verdict, ask)[0]
    assert first.text.splitlines()[:2] == ["Access-Control-Allow-Methods: PUT",
                                           "Access-Control-Allow-Headers: x-custom"]


@pytest.mark.parametrize(("response", "first"), [
    pytest.param([("X-Powered-By", "Express")], "Express (cors package)", id="express"),
    pytest.param([("Server", "uvicorn")], "FastAPI / Starlette (CORSMiddleware)",
                 id="uvicorn"),
    pytest.param([("Server", "Werkzeug/3.0.1 Python/3.11.2")], "Flask (Flask-CORS)",
                 id="werkzeug"),
    pytest.param([("Server", "WSGIServer/0.2 CPython/3.11.2")],
                 "Django (django-cors-headers)", id="django-runserver"),
    pytest.param([("server", "nginx/1.25.3")], "nginx", id="nginx"),
    pytest.param([("Server", "Python/3.11 aiohttp/3.9")], "devproxy (devproxy.yaml)",
                 id="unknown"),
])
def test_the_fix_for_the_stack_the_response_names_comes_first(
        response: list[tuple[str, str]], first: str) -> None:
    from devproxy.corsadvice import stack_of

    verdict = cors_check(FRONT, False, response)
    found = fixes(verdict, Ask(FRONT, "GET", (), False), stack=stack_of(response))
    assert found[0].tool == first
    assert len(found) == 6  # reordered, none left out
    assert len({f.tool for f in found}) == 6


def test_a_path_no_route_matches_is_blamed_on_the_route_table_not_a_backend() -> None:
    from devproxy.corsadvice import unrouted_in_devproxy

    said = unrouted_in_devproxy(
        "No configured route matches '/nothing'.",
        "add a route for this path to devproxy.yaml, or a catch-all `path: /`",
        ("/api -> http://127.0.0.1:3000", "/auth -> http://127.0.0.1:4000"))
    assert said["cause"] == (
        "No backend answered this request: devproxy did, with its own 404, because no "
        "configured route matches '/nothing' (its routes: /api -> http://127.0.0.1:3000, "
        "/auth -> http://127.0.0.1:4000). The backend's CORS settings play no part: the "
        "route table, or the URL the page calls, is what to change.")
    assert said["fixes"] == [
        {"tool": "devproxy", "text": "Add a route for this path to devproxy.yaml, or a "
                                     "catch-all `path: /`."},
        {"tool": "your page", "text": "Or call a path one of devproxy's routes serves (under "
                                      "/api, /auth): a typo in the page's URL, or a prefix "
                                      "left out, reaches no route."}]

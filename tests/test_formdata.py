"""The parts of a multipart/form-data body, as the inspector shows them."""

from __future__ import annotations

import pytest

from devproxy.formdata import form_parts, param

TYPE = "multipart/form-data; boundary=----WebKitFormBoundaryX7"
def parts(body: bytes, content_type: str, cut: bool = False) -> list[dict[str, object]]:
    """The parts listed, for a form of at most a hundred."""
    form = form_parts(body, content_type, cut)
    assert form is not None
    listed, more = form
    assert more == 0
    return listed


BODY = (b"------WebKitFormBoundaryX7\r\n"
        b'Content-Disposition: form-data; name="title"\r\n\r\n'
        b"caf\xc3\xa9\r\n"
        b"------WebKitFormBoundaryX7\r\n"
        b'Content-Disposition: form-data; name="avatar"; filename="me \\"1\\".png"\r\n'
        b"Content-Type: image/png\r\n\r\n"
        b"\x89PNG\r\n\x1a\n\x00\x00\r\n"
        b"------WebKitFormBoundaryX7--\r\n")


def test_each_field_and_file_is_a_part():
    assert parts(BODY, TYPE) == [
        {"name": "title", "size": 5, "text": "café"},
        # The file's bytes hold a CRLF: only CRLF and the boundary end a part.
        {"name": "avatar", "size": 10, "filename": 'me "1".png', "type": "image/png"},
    ]


def test_a_body_cut_at_the_capture_limit_shows_the_parts_up_to_the_cut():
    in_the_header = BODY.index(b"filename")
    assert parts(BODY[:in_the_header + 5], TYPE, cut=True) == [
        {"name": "title", "size": 5, "text": "café"},
        {"name": "", "truncated": True},  # no whole header line of it yet
    ]
    in_the_file = BODY.index(b"PNG") + 3
    assert parts(BODY[:in_the_file], TYPE, cut=True)[1] == {
        "name": "avatar", "size": 4, "filename": 'me "1".png', "type": "image/png",
        "truncated": True}
    # Cut inside a text value, even inside a character: what there is, marked.
    assert parts(BODY[:BODY.index(b"\xa9")], TYPE, cut=True) == [
        {"name": "title", "size": 4, "text": "caf\N{REPLACEMENT CHARACTER}", "truncated": True}]


def test_a_body_that_ends_without_the_close_delimiter_says_so():
    whole = BODY[:BODY.rindex(b"\r\n------WebKitFormBoundaryX7--")]
    assert parts(whole, TYPE)[-1]["unterminated"] is True
    assert "unterminated" not in parts(BODY, TYPE)[-1]


@pytest.mark.parametrize("content_type", [
    'multipart/form-data; boundary="----WebKitFormBoundaryX7"',  # quoted (RFC 2046 §5.1.1)
    "Multipart/Form-Data;boundary=----WebKitFormBoundaryX7",
])
def test_the_boundary_is_read_as_content_type_may_write_it(content_type):
    assert [p["name"] for p in parts(BODY, content_type)] == ["title", "avatar"]


@pytest.mark.parametrize(("body", "content_type"), [
    (BODY, "multipart/form-data"),  # no boundary
    (BODY, "multipart/mixed; boundary=----WebKitFormBoundaryX7"),
    (BODY, "application/octet-stream"),
    (b"no delimiter at all", TYPE),
    (b"------WebKitFormBoundaryX7--\r\n", TYPE),  # an empty form
])
def test_not_a_form_is_none(body, content_type):
    assert form_parts(body, content_type) is None


def test_a_preamble_is_skipped_and_a_value_in_another_charset_is_not_shown_as_text():
    body = (b"ignored preamble\r\n--b\r\nContent-Disposition: form-data; name=n\r\n\r\n"
            b"\xe9t\xe9\r\n--b\r\nContent-Disposition: form-data; name=doc\r\n"
            b"Content-Type: application/json\r\n\r\n{}\r\n--b--")
    assert parts(body, "multipart/form-data; boundary=b") == [
        {"name": "n", "size": 3},  # Latin-1 bytes: size only, never mojibake
        {"name": "doc", "size": 2, "type": "application/json"},  # a typed field is a file's kind
    ]


def test_a_form_of_many_fields_lists_the_first_hundred_and_counts_the_rest():
    body = b"".join(b"--b\r\nContent-Disposition: form-data; name=f%d\r\n\r\nv\r\n" % i
                    for i in range(150)) + b"--b--\r\n"
    form = form_parts(body, "multipart/form-data; boundary=b")
    assert form is not None
    listed, more = form
    assert len(listed) == 100 and listed[-1]["name"] == "f99" and more == 50
    assert "unterminated" not in listed[-1]  # it was closed; only the list stops


@pytest.mark.parametrize("boundary", [
    "\u20ac",  # not in RFC 2046's set (and no single byte)
    "\udce9",  # a byte that is not UTF-8, as the header's text holds it
    "x" * 71,  # longer than 70
    "ends with a space ",
])
def test_a_boundary_outside_rfc_2046_is_no_form(boundary):
    assert form_parts(BODY, f'multipart/form-data; boundary="{boundary}"') is None


def test_param_unquotes_and_ignores_case_of_the_name():
    assert param('form-data; NAME="a\\"b"; filename=x.txt', "name") == 'a"b'
    # A backslash that escapes nothing is the name's own (a Windows path, old IE).
    assert param('form-data; filename="C:\\Users\\me\\a.png"', "filename") == \
        "C:\\Users\\me\\a.png"
    assert param("form-data; filename=x.txt", "filename") == "x.txt"
    assert param("form-data", "name") is None


def test_a_part_without_header_fields_is_a_part():
    # RFC 2046 §5.1.1: the header area may be empty, the blank line following at once.
    body = (b"------WebKitFormBoundaryX7\r\n\r\nplain\r\n"
            b"------WebKitFormBoundaryX7\r\n"
            b'Content-Disposition: form-data; name="b"\r\n\r\nbee\r\n'
            b"------WebKitFormBoundaryX7--\r\n")
    assert parts(body, TYPE) == [{"name": "", "size": 5, "text": "plain"},
                                 {"name": "b", "size": 3, "text": "bee"}]


@pytest.mark.parametrize("into", [1, 2, 3, 10, 27])
def test_a_body_cut_inside_a_delimiter_counts_only_the_parts_own_bytes(into):
    # Bytes that begin the next delimiter may end the part: not counted as its content.
    end = BODY.index(b"\r\n------WebKitFormBoundaryX7\r\nContent-Disposition: form-data; "
                     b'name="avatar"')
    [title] = parts(BODY[:end + into], TYPE, cut=True)
    assert title == {"name": "title", "size": 5, "text": "café", "truncated": True}


def test_a_cut_part_keeps_bytes_that_only_look_like_a_delimiters_start():
    body = b'------WebKitFormBoundaryX7\r\nContent-Disposition: form-data; name="t"\r\n\r\nab-'
    [part] = parts(body, TYPE, cut=True)
    assert part["text"] == "ab-" and part["size"] == 3

"""JSON re-indented for the inspector: the layout changes, never a token."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devproxy.jsonindent import indent_json


def test_numbers_and_repeated_keys_stay_as_sent() -> None:
    # What JSON.parse and JSON.stringify showed: 12345678901234567000, 1.1, null, one "dup".
    sent = '{"id": 12345678901234567891, "price": 1.10, "n": 1e400, "dup": 1, "dup": 2}'
    assert indent_json(sent) == (
        '{\n  "id": 12345678901234567891,\n  "price": 1.10,\n  "n": 1e400,\n'
        '  "dup": 1,\n  "dup": 2\n}')


def test_strings_keep_their_commas_brackets_and_escapes() -> None:
    sent = r'["a\"b,{[:", "\\", "\u00e9 é", {"":[ ]}, {} ]'
    assert indent_json(sent) == (
        '[\n  "a\\"b,{[:",\n  "\\\\",\n  "\\u00e9 é",\n  {\n    "": []\n  },\n  {}\n]')


@pytest.mark.parametrize("text", ["", "[1,", "{'a': 1}", "NaN", "[Infinity]", "01", "[1] 2"])
def test_what_is_not_json_is_none(text: str) -> None:
    assert indent_json(text) is None


@given(st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False,
                                                         allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner), max_leaves=30))
def test_the_layout_is_what_a_json_dump_with_indent_2_gives(value: object) -> None:
    compact = json.dumps(value, separators=(",", ":"))
    assert indent_json(compact) == json.dumps(value, indent=2)


@given(st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, min_size=1) | st.dictionaries(st.text(), inner, min_size=1),
    max_leaves=30), st.data())
def test_a_json_text_cut_anywhere_is_laid_out_as_far_as_it_goes(value: object,
                                                                data: st.DataObject) -> None:
    # A body past the inspector's cap is kept in part: shown on one line, a 64 KiB
    # start of an API's answer was unreadable. Cut anywhere, its layout is the whole
    # text's up to the cut, give or take the whitespace at the cut.
    compact = json.dumps(value, separators=(",", ":"))
    whole = json.dumps(value, indent=2)
    cut = data.draw(st.integers(1, len(compact)))
    shown = indent_json(compact[:cut], partial=True)
    assert shown is not None, compact[:cut]
    assert whole.startswith(shown.rstrip()), (compact[:cut], shown)


@pytest.mark.parametrize("text", ["<html><body>", '{"a" 1', "[1,, 2", "[1 2", "NaN"])
def test_a_cut_text_that_goes_wrong_before_its_end_is_none(text: str) -> None:
    assert indent_json(text, partial=True) is None

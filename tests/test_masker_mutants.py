"""Masker behaviour that mutation testing (issue 10) found untested by the masking tests: where a
stream may be cut and which trailing lines wait for the rest of a key, secrets inside nested
values, CRLF and lone-surrogate secrets, form-encoded spaces, JSON surrogate pairs, the longest
escaped secret first, a secret with '*' re-formed around a mask, and base64 at every alignment."""

from __future__ import annotations

import base64
import json
import os
import re

import pytest

from iact_tui.engine.checklist.masking import MASK, Redactor

SECRET = "s3cr3t-Pa55"
KEY = "-----BEGIN KEY-----\nAAAABBBBCCCCDDDD\n-----END KEY-----"


def test_secrets_inside_nested_values_are_masked_and_the_rest_kept() -> None:
    redact = Redactor([SECRET])
    value = {
        "token": SECRET,
        "list": ["a", f"x{SECRET}y"],
        "tuple": (SECRET, 3),
        "nested": {"deep": [{"k": SECRET}]},
        "n": 1.5,
        "none": None,
    }
    assert redact.value(value) == {
        "token": MASK,
        "list": ["a", f"x{MASK}y"],
        "tuple": (MASK, 3),
        "nested": {"deep": [{"k": MASK}]},
        "n": 1.5,
        "none": None,
    }
    assert redact.value((SECRET,)) == (MASK,)


def test_a_stream_is_never_cut_inside_a_secret() -> None:
    redact = Redactor([SECRET])
    text = "before " + SECRET + " after"
    start = text.index(SECRET)
    for cut in range(start + 1, start + len(SECRET)):  # inside: the cut moves past the secret
        assert redact.safe_cut(text, cut) == start + len(SECRET), cut
    assert redact.safe_cut(text, start) == start  # at its start: the secret is whole on the right
    assert redact.safe_cut(text, 3) == 3  # before it
    assert redact.safe_cut(text, len(text) - 2) == len(text) - 2  # after it


def test_without_secrets_a_stream_is_cut_where_asked() -> None:
    assert Redactor().safe_cut("anything at all", 4) == 4


def test_the_first_line_of_a_key_waits_for_the_rest() -> None:
    redact = Redactor([KEY])
    block = "log line\n-----BEGIN KEY-----\n"
    held = block.index("-----BEGIN")
    assert redact.held_lines(block) == held
    assert redact.held_lines(block, "AAAA") == held  # the next line is on its way
    assert redact.held_lines(block, "something else") == len(block)
    assert redact.held_lines("log line\nother\n") == len("log line\nother\n")


def test_a_secret_written_with_crlf_is_masked_whole_with_either_line_end() -> None:
    secret = "line-one-AAAA\r\nline-two-BBBB"
    redact = Redactor([secret])
    assert redact("x line-one-AAAA\nline-two-BBBB y") == f"x {MASK} y"
    assert redact("x line-one-AAAA\r\nline-two-BBBB y") == f"x {MASK} y"
    assert redact.multiline == ["line-one-AAAA\nline-two-BBBB"]


def test_a_multi_line_secret_keeps_its_edges_as_given() -> None:
    spaced = "  spaced-line-one\nspaced-line-two  "
    edged = "Xx-line-one\nx-line-twoX"
    assert sorted(Redactor([spaced, edged]).multiline) == sorted([spaced, edged])


def test_a_json_escaped_multi_line_secret_of_short_lines_is_masked_whole() -> None:
    secret = "abc\ndefg"  # each line too short to be masked on its own
    assert Redactor([secret])('{"key": "abc\\ndefg"}') == f'{{"key": "{MASK}"}}'


def test_a_json_escaped_multi_line_secret_with_a_short_line_is_masked_whole() -> None:
    secret = "ab\ncdefghijkl"  # "ab" is too short to be masked on its own
    assert Redactor([secret])('{"key": "ab\\ncdefghijkl"}') == f'{{"key": "{MASK}"}}'


def test_a_short_secret_is_masked() -> None:
    assert Redactor(["hunter2"])("pw=hunter2 ok") == f"pw={MASK} ok"


def test_without_secrets_text_is_unchanged() -> None:
    assert Redactor()("nothing to hide") == "nothing to hide"
    assert Redactor([""])("nothing to hide") == "nothing to hide"


def test_a_secret_with_stars_re_formed_around_a_mask_is_masked_again() -> None:
    # masking a***b inside aa***bb leaves a + *** + b: the secret again
    assert Redactor(["a***b"])("aa***bb") == MASK


def test_crlf_lines_and_a_pending_carriage_return_still_hold_a_key() -> None:
    redact = Redactor([KEY])
    block = "log line\r\n-----BEGIN KEY-----\r\n"
    held = block.index("-----BEGIN")
    assert redact.held_lines(block, "") == held
    assert redact.held_lines("log line\n-----BEGIN KEY-----\n", "AAAA\r") == len("log line\n")


def test_the_first_line_of_a_key_is_found_after_many_lines_or_an_empty_one() -> None:
    redact = Redactor([KEY])
    block = "a\nb\nc\n-----BEGIN KEY-----\n"
    assert redact.held_lines(block, "") == block.index("-----BEGIN")
    assert redact.held_lines("\n-----BEGIN KEY-----\n", "") == 1


def test_the_base64_of_a_crlf_secret_written_with_lf_is_masked() -> None:
    secret = "line-one-AAAA\r\nline-two-BBBB"
    lf = base64.b64encode(b"line-one-AAAA\nline-two-BBBB").decode()
    assert Redactor([secret])(f"auth {lf} end") == f"auth {MASK} end"


def test_a_secret_with_a_space_is_masked_in_form_encoding() -> None:
    assert Redactor(["pass word"])("user=bob&password=pass+word") == f"user=bob&password={MASK}"


def test_the_longest_escaped_secret_wins_over_a_shorter_one_it_starts_with() -> None:
    redact = Redactor(["abc1", "abc1def2"])
    assert redact("q=%61bc1def2&r=%61bc1") == f"q={MASK}&r={MASK}"


@pytest.mark.parametrize(
    "secret",
    ["pa\U0001f600ss", "x\uffffy", "x\U00010000y", "x\U0010ffffy"],
    ids=["emoji", "last-bmp", "first-astral", "last-astral"],
)
def test_characters_beyond_the_bmp_are_masked_as_json_surrogate_pairs(secret: str) -> None:
    redact = Redactor([secret])
    escaped = json.dumps(secret)  # "\\ud83d\\ude00" for an emoji, as a JSON body writes it
    assert redact(f'{{"p": {escaped}}}') == f'{{"p": "{MASK}"}}'
    upper = re.sub(r"\\u([0-9a-f]{4})", lambda m: "\\u" + m[1].upper(), escaped)
    assert upper != escaped
    assert redact(f'{{"p": {upper}}}') == f'{{"p": "{MASK}"}}'


def test_span_is_the_longest_text_one_match_can_cover() -> None:
    # "a" as \u0061 (6 characters) and the emoji as a surrogate pair (12): 18, longer than
    # any other form of the secret (%F0%9F%98%80 for the emoji is 12 too)
    assert Redactor(["a\U0001f600"]).span == len("\\u0061\\ud83d\\ude00") == 18


def test_a_masker_without_secrets_holds_nothing_back() -> None:
    empty = Redactor()
    assert not empty
    assert empty.span == 0
    assert empty.multiline == []
    assert empty.held_lines("a line\n-----BEGIN KEY-----\n") == len("a line\n-----BEGIN KEY-----\n")
    assert empty.value({"a": ["b"]}) == {"a": ["b"]}


def test_span_counts_the_percent_encoding_of_a_three_byte_character() -> None:
    # "a" as \u0061 (6) and "€" as %E2%82%AC (9)
    assert Redactor(["a€"]).span == len("\\u0061%E2%82%AC") == 15


def test_a_secret_with_an_undecodable_byte_from_the_environment_is_masked() -> None:
    # os.environ gives bytes that are not UTF-8 as lone surrogates (surrogateescape)
    secret = os.fsdecode(b"pass\xffword")
    redact = Redactor([secret])
    assert redact(f"x {secret} y") == f"x {MASK} y"
    assert redact('{"p": "pass\\udcffword"}') == f'{{"p": "{MASK}"}}'


@pytest.mark.parametrize(
    ("before", "after", "masked"),
    [
        (0, 0, MASK),
        (0, 1, "***XY="),
        (0, 2, "***XZ2"),
        (1, 0, "dW***U="),
        (1, 1, "dW***V2"),
        (1, 2, "dW***V2dg=="),
        (2, 0, "dXV***"),
        (2, 1, "dXV***dg=="),
        (2, 2, "dXV***dnY="),
    ],
)
def test_inside_longer_base64_every_character_made_only_of_the_secret_is_masked(
    before: int, after: int, masked: str
) -> None:
    """Only the one or two characters at each edge, mixed with the neighbouring bytes, stay."""
    text = base64.b64encode(b"u" * before + b"correct-horse" + b"v" * after).decode()
    assert Redactor(["correct-horse"])(text) == masked

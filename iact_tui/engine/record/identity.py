"""Is this the same person? Names compared the way a reader sees them (four eyes).

Two names are the same person when any of their *identity keys* are equal. Every key starts
from the same cleaned text:

1. Unicode NFKC (fullwidth ``Ａ`` is ``A``, ligatures are split), then NFD with the combining
   marks dropped (``José`` is ``Jose``);
2. no terminal escape sequences (CSI such as ``ESC[31m`` or ``ESC[1C``, OSC, DCS and the other
   string commands, two-character escapes; 7-bit or C1), which a terminal acts on and does not
   show, so ``ESC[31mAna María`` reads as ``Ana María``;
3. no format or invisible characters (zero-width space and joiners, bidi marks, soft hyphen,
   variation selectors, controls), whitespace collapsed to one space and trimmed.

Each key then keeps only letters and digits: spacing and punctuation make no other person
(``AnaMaría``, ``Ana María``, ``Ana‐María`` and ``Ana\u200bMaría`` are one; a name of nothing
but punctuation or symbols is compared as written).

The keys are then that text case-folded, and its Unicode TR39 *skeleton* taken on the text as
written, on its upper case and on its case-folded form: the skeleton maps each character onto its prototype
in TR39's ``confusables.txt``, so Cyrillic ``А``/``а`` and Greek ``Α`` are Latin ``A``/``a``,
``0`` is ``O`` and ``1``/``I`` are ``l``. Several keys, because a look-alike depends on
the case: Cyrillic ``Н`` looks like ``H`` but ``н`` does not look like ``h``, ``I`` looks like ``l``
but ``i`` does not.

The confusables data comes from the ``confusable-homoglyphs`` package (``confusables.json``,
generated from TR39's ``confusables.txt`` and kept up to date there). It stores each line of
that file in both directions; as a prototype is never a source, the pairs form stars whose centre
is the prototype (of a lone pair, the lower code point is taken). Being generous with "the same
person" errs on the safe side: four eyes then asks for a clearly different name.
"""

from __future__ import annotations

import functools
import re
import unicodedata

from iact_tui.engine.formatting import printable

# What a terminal consumes without showing it: string commands (OSC, DCS, SOS, PM, APC) up to
# their terminator (or the end: the terminal swallows the rest), control sequences (CSI) and
# the other escapes (ESC, intermediates, a final byte); 7-bit and C1 forms alike.
_ESCAPES = re.compile(
    r"(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|(?:\x1b\[|\x9b)[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]?"
    r"|\x1b[\x20-\x2f]*[\x30-\x7e]?"
)

# invisible characters that are not in category Cf (default-ignorable in Unicode)
_IGNORABLE = {
    0x034F,
    0x115F,
    0x1160,
    0x17B4,
    0x17B5,
    0x180B,
    0x180C,
    0x180D,
    0x180F,
    0x3164,
    0xFFA0,
}
_IGNORABLE_RANGES = ((0xFE00, 0xFE0F), (0xE0100, 0xE01EF))


def _invisible(ch: str) -> bool:
    if unicodedata.category(ch) in ("Cf", "Cc", "Co", "Cs", "Mn", "Me"):
        return not ch.isspace()  # tabs and newlines are whitespace: collapsed, not removed
    cp = ord(ch)
    return cp in _IGNORABLE or any(lo <= cp <= hi for lo, hi in _IGNORABLE_RANGES)


def _clean(text: str) -> str:
    return "".join(ch for ch in text if not _invisible(ch))


@functools.cache
def _prototypes() -> dict[str, str]:
    """Source character -> its TR39 prototype (one or more characters)."""
    from confusable_homoglyphs import confusables

    data: dict[str, list[dict[str, str]]] = confusables.confusables_data
    edges: dict[str, set[str]] = {}
    out: dict[str, str] = {}
    for key, entries in data.items():
        if len(key) != 1:
            continue
        for entry in entries:
            other = "".join(ch for ch in entry.get("c", "") if unicodedata.category(ch) != "Cf")
            if len(other) == 1 and other != key:
                edges.setdefault(key, set()).add(other)
                edges.setdefault(other, set()).add(key)
            elif len(other) > 1 and (key not in out or other < out[key]):
                out[key] = other  # a multi-character prototype: the key is its source
    for ch, linked in edges.items():
        if ch in out or len(linked) != 1:
            continue  # a centre (a prototype), or already mapped
        (partner,) = linked
        if len(edges.get(partner, ())) > 1 or partner < ch:
            out[ch] = partner
    return out


def skeleton(text: str) -> str:
    """TR39's skeleton: NFD, each character onto its prototype, NFD again."""
    protos = _prototypes()
    mapped = "".join(protos.get(ch, ch) for ch in unicodedata.normalize("NFD", text))
    return unicodedata.normalize("NFD", mapped)


def without_escapes(text: str) -> str:
    """``text`` without the terminal escape sequences in it (what a terminal does not show)."""
    return _ESCAPES.sub("", text)


def _base(name: str) -> str:
    text = unicodedata.normalize("NFD", unicodedata.normalize("NFKC", without_escapes(name)))
    return " ".join(_clean("".join(_small_capital(ch) for ch in text)).split())


_SMALL_CAPITAL = "LATIN LETTER SMALL CAPITAL "


@functools.lru_cache(maxsize=1024)
def _small_capital(ch: str) -> str:
    """A small capital (``ᴀ``, ``ʙ``, ``ꜱ``: TR39 leaves them apart) as the letter it reads as."""
    name = unicodedata.name(ch, "")
    if name.startswith(_SMALL_CAPITAL):
        letters = name[len(_SMALL_CAPITAL) :]
        if letters.isalpha() and letters.isascii():
            return letters.lower()
    return ch


@functools.lru_cache(maxsize=512)
def identity_keys(name: str) -> tuple[str, str, str, str]:
    """The forms of a name under which look-alike spellings of it are equal (see the module)."""
    base = _base(name)
    folded = base.casefold()
    return (
        _letters(folded),
        _letters(_clean(skeleton(base))),
        _letters(_clean(skeleton(base.upper()))),
        _letters(_clean(skeleton(folded))),
    )


def _letters(key: str) -> str:
    """Only the letters and digits of a key (the key itself when it has none)."""
    kept = "".join(ch for ch in key if ch.isalnum())
    return kept or key


def same_person(a: str, b: str) -> bool:
    """True when the names are the same up to case, invisible characters, spacing and
    punctuation, accents and look-alike characters (Unicode TR39 confusables)."""
    return any(x == y for x, y in zip(identity_keys(a), identity_keys(b), strict=True))


def shown(text: str) -> str:
    """``text`` for a message, whatever is in it: bytes that were not UTF-8 (kept by Python as
    lone surrogates) read ``\\xNN``, control characters as ``printable`` writes them."""
    raw = text.encode("utf-8", "surrogateescape")
    return printable(raw.decode("utf-8", "backslashreplace"))


def not_utf8(text: str) -> bool:
    """Whether ``text`` holds bytes that were not UTF-8 (command-line arguments and environment
    variables reach Python with them as lone surrogates, which no file or record can hold)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def text_problem(what: str, text: str) -> str:
    """Why ``text`` cannot be recorded ("" when it can): it must be valid UTF-8."""
    if not_utf8(text):
        return f"{what} is not valid UTF-8 text ({shown(text)}); give it as UTF-8"
    return ""


def name_problem(what: str, name: str) -> str:
    """Why ``name`` cannot be a person's name ("" when it can): it must be valid UTF-8 and hold
    no control characters (an escape sequence in it makes it read as another name)."""
    problem = text_problem(what, name)
    if problem:
        return problem
    if any(unicodedata.category(ch) == "Cc" for ch in name):
        return (
            f"{what} {shown(name)} has control characters (escape sequences, line breaks, tabs); "
            "a person's name has none"
        )
    if name.strip() and not any(ch.isalnum() for ch in _base(name)):  # (blank: said apart)
        return (
            f"{what} {shown(name)} has no letter or digit that shows (blank, invisible or only "
            "punctuation); a person's name has some"
        )
    return ""

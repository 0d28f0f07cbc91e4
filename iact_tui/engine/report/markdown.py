"""The report's document as Markdown: pastes into a pull request or a change ticket. Every text
is escaped, so a title or an output line can never become markup."""

from __future__ import annotations

import re

from iact_tui.engine.report.document import Document, Line, Section

_MD_SPECIAL = re.compile(r"([\\`*\[\]<>|~&])")
# an underscore inside a word never starts emphasis (GFM): JWT_SECRET_KEY stays readable
_MD_UNDERSCORE = re.compile(r"(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])")
_MD_LINE_START = re.compile(r"^(\s*)([-+#>=]|\d+[.)])")


def _md_plain(text: str, in_table: bool) -> str:
    text = _MD_UNDERSCORE.sub(r"\\_", _MD_SPECIAL.sub(r"\\\1", text))
    if in_table:
        return " / ".join(part.strip() for part in text.splitlines()) if "\n" in text else text
    lines = text.split("\n")
    out = [lines[0]] + [_MD_LINE_START.sub(r"\1\\\2", ln) for ln in lines[1:]]
    return "\\\n    ".join(out)  # a hard line break, continuing the list item


def _md_code(text: str, in_table: bool) -> str:
    text = " ↵ ".join(text.splitlines()) if "\n" in text else text
    if in_table:
        text = text.replace("|", "\\|")
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip() else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def md_line(line: Line, in_table: bool = False) -> str:
    out = []
    for style, text in line:
        if style == "code":
            out.append(_md_code(text, in_table))
        elif style == "strong":
            out.append(f"**{_md_plain(text, in_table)}**")
        else:
            out.append(_md_plain(text, in_table))
    return "".join(out)


def render_markdown(doc: Document) -> str:
    out: list[str] = [f"# {_md_plain(doc.title, False)}", ""]
    if doc.banner:
        out += [f"> {md_line(doc.banner)}", ""]
    out += ["| Field | Value |", "|---|---|"]
    out += [f"| {_md_plain(k, True)} | {md_line(v, True)} |" for k, v in doc.facts]
    out.append("")
    for section in doc.sections:
        _md_section(section, out)
    out.append("---")
    out.append("")
    for line in doc.footer:
        out += [md_line(line), ""]
    return "\n".join(out).rstrip("\n") + "\n"


def _md_section(section: Section, out: list[str]) -> None:
    out += [f"{'#' * section.level} {md_line(section.title)}", ""]
    for line in section.intro:
        out += [md_line(line), ""]
    if section.items:
        for item in section.items:
            out.append(f"- [{'x' if item.checked else ' '}] {md_line(item.head)}")
            for d in item.details:
                out.append(f"  - {md_line(d)}")
            if item.output:
                body = "\n".join(item.output)
                longest = max((len(m) for m in re.findall(r"`{3,}", body)), default=2)
                fence = "`" * (longest + 1)
                out.append("  - Output (last lines):")
                out.append("")
                out.append(f"    {fence}text")
                out += [f"    {ln}" for ln in item.output]
                out.append(f"    {fence}")
        out.append("")
    if section.table:
        t = section.table
        out.append("| " + " | ".join(t.header) + " |")
        out.append("|" + "---|" * len(t.header))
        for row in t.rows:
            out.append("| " + " | ".join(md_line(cell, True) for cell in row) + " |")
        out.append("")
    for child in section.children:
        _md_section(child, out)

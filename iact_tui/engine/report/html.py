"""The report's document as one self-contained, printable HTML file: no script, nothing loaded
from anywhere (a Content-Security-Policy says so), every text escaped."""

from __future__ import annotations

import html

from iact_tui.engine.report.document import Document, Line, Section

CSS = """
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1b1f23;
       max-width: 60rem; margin: 2rem auto; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin-bottom: .5rem; }
h2 { font-size: 1.25rem; border-bottom: 1px solid #d0d7de; padding-bottom: .2rem; margin-top: 2rem; }
h3 { font-size: 1.05rem; margin: 1.2rem 0 .4rem; }
h4 { font-size: .95rem; margin: 1rem 0 .3rem; color: #444; }
code, pre { font: 12px/1.4 ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; }
code { background: #f3f4f6; padding: 0 .25em; border-radius: 3px; overflow-wrap: anywhere; }
pre { background: #f6f8fa; border: 1px solid #d0d7de; padding: .5rem; white-space: pre-wrap;
      overflow-wrap: anywhere; margin: .3rem 0; }
table { border-collapse: collapse; margin: .5rem 0 1rem; width: 100%; }
th, td { border: 1px solid #d0d7de; padding: .25rem .5rem; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
table.facts th { width: 11rem; }
.banner { background: #fff8c5; border: 1px solid #d4a72c; padding: .5rem .75rem; }
ul.checklist { list-style: none; padding-left: 0; margin: .3rem 0; }
ul.checklist > li { margin: .35rem 0; page-break-inside: avoid; break-inside: avoid; }
ul.details { margin: .15rem 0 .15rem 1.6rem; padding-left: 1rem; color: #333; }
.box { display: inline-block; width: 1.3em; font-size: 1.1em; }
li.passed > .box { color: #1a7f37; }
li.failed > .box, li.interrupted > .box { color: #cf222e; }
li.skipped > .box, li.waiting > .box, li.running > .box { color: #9a6700; }
li.not_applicable, li.pending { color: #57606a; }
footer { margin-top: 2rem; border-top: 1px solid #d0d7de; padding-top: .5rem; color: #57606a; font-size: 12px; }
@media print {
  body { margin: 0; max-width: none; font-size: 11px; }
  h2 { page-break-after: avoid; break-after: avoid; }
  a { color: inherit; text-decoration: none; }
}
@page { margin: 15mm; }
"""


def html_line(line: Line) -> str:
    out = []
    for style, text in line:
        escaped = html.escape(text, quote=True)
        if style == "code":
            out.append(f"<code>{escaped}</code>")
        elif style == "strong":
            out.append(f"<strong>{escaped.replace(chr(10), '<br>')}</strong>")
        else:
            out.append(escaped.replace("\n", "<br>"))
    return "".join(out)


def render_html(doc: Document) -> str:
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        # nothing may load from anywhere: the file is its own whole record
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(doc.title)}</title>",
        f"<style>{CSS}</style>",
        "</head>",
        "<body>",
        f"<h1>{html.escape(doc.title)}</h1>",
    ]
    if doc.banner:
        out.append(f'<p class="banner">{html_line(doc.banner)}</p>')
    out.append('<table class="facts">')
    for key, value in doc.facts:
        out.append(f"<tr><th>{html.escape(key)}</th><td>{html_line(value)}</td></tr>")
    out.append("</table>")
    for section in doc.sections:
        _html_section(section, out)
    out.append("<footer>")
    out += [f"<p>{html_line(line)}</p>" for line in doc.footer]
    out += ["</footer>", "</body>", "</html>"]
    return "\n".join(out) + "\n"


def _html_section(section: Section, out: list[str]) -> None:
    level = min(section.level, 6)
    out.append(f"<h{level}>{html_line(section.title)}</h{level}>")
    for line in section.intro:
        out.append(f"<p>{html_line(line)}</p>")
    if section.items:
        out.append('<ul class="checklist">')
        for item in section.items:
            box = "☑" if item.checked else "☐"
            label = "done" if item.checked else "not done"
            state = html.escape(item.state or ("passed" if item.checked else "pending"))
            out.append(
                f'<li class="{state}"><span class="box" aria-label="{label}">{box}</span>{html_line(item.head)}'
            )
            if item.details:
                out.append('<ul class="details">')
                out += [f"<li>{html_line(d)}</li>" for d in item.details]
                out.append("</ul>")
            if item.output:
                out.append("<pre>" + html.escape("\n".join(item.output)) + "</pre>")
            out.append("</li>")
        out.append("</ul>")
    if section.table:
        t = section.table
        out.append("<table>")
        out.append("<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in t.header) + "</tr>")
        for row in t.rows:
            out.append("<tr>" + "".join(f"<td>{html_line(c)}</td>" for c in row) + "</tr>")
        out.append("</table>")
    for child in section.children:
        _html_section(child, out)

"""A report as data (sections of tables, figures, notes), rendered to Markdown and to static HTML.

Building the report once as data and rendering it twice keeps ``report.md`` and ``report.html``
identical in content. The HTML is one self-contained file: styles inline and every PNG inlined as a
``data:`` URI (the PNGs are also written next to it, and the Markdown links them).
"""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Table:
    title: str
    header: list
    rows: list
    caption: str = ""


@dataclass
class Figure:
    title: str
    path: str  # relative to the report folder
    caption: str = ""


@dataclass
class Missing:
    """A view the store has no data for, and why."""

    title: str
    reason: str


@dataclass
class Section:
    title: str
    intro: str = ""
    items: list = field(default_factory=list)


def _md_cell(value) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def render_markdown(title: str, intro: str, sections: list) -> str:
    lines = [f"# {title}", "", intro, ""]
    for section in sections:
        lines += [f"## {section.title}", ""]
        if section.intro:
            lines += [section.intro, ""]
        for item in section.items:
            if isinstance(item, Table):
                if item.title:
                    lines += [f"**{item.title}**", ""]
                lines.append("| " + " | ".join(_md_cell(h) for h in item.header) + " |")
                lines.append("|" + "|".join("---" for _ in item.header) + "|")
                lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in item.rows]
                lines.append("")
                if item.caption:
                    lines += [item.caption, ""]
            elif isinstance(item, Figure):
                lines += [f"![{item.title}]({item.path})", ""]
                if item.caption:
                    lines += [f"*{item.title}.* {item.caption}", ""]
            elif isinstance(item, Missing):
                lines += [f"> **{item.title}: no data.** {item.reason}", ""]
            else:
                lines += [str(item), ""]
    return "\n".join(lines).rstrip() + "\n"


#: The style sheet every ``ior`` HTML page starts from (the sweep report and the audit's ``report.html``).
BASE_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child, .text { text-align: left; }
.nowrap { white-space: nowrap; }
th { background: #f2f2f2; }
.caption { color: #555; font-size: 0.9em; }
.missing { background: #fff6e0; border-left: 4px solid #e0a800; padding: 0.5em 1em; }
img { max-width: 100%; }
pre { background: #f6f6f6; padding: 0.5em; overflow-x: auto; }
.table-wrap { overflow-x: auto; }
"""


def _inline_png(folder: Path, relative: str) -> str:
    data = (folder / relative).read_bytes()
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def html_inline(text: str) -> str:
    """Escaped text with `code` spans and **bold** (the little Markdown the report uses)."""
    escaped = html.escape(str(text))
    parts = escaped.split("`")
    escaped = "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))
    parts = escaped.split("**")
    return "".join(f"<strong>{p}</strong>" if i % 2 else p for i, p in enumerate(parts))


#: A cell that reads as a number (``88.96 ± 0.31``, ``+1.20 (2/3 illusion)``, ``+78.2 [+74.6, +81.8]``,
#: ``–``): right-aligned.
_NUMERIC_CELL = re.compile(r"[+\-−]?\d[\d.,]*(e[+\-]?\d+)?%?( ± [\d.]+)?( \([^)]*\))?( \[[^\]]*\])?|–|")
#: Cells up to this many characters stay on one line (a name, a number with its interval).
_NOWRAP_CHARS = 24


def is_numeric_cell(value) -> bool:
    return bool(_NUMERIC_CELL.fullmatch(str(value).strip()))


def column_classes(rows) -> list:
    """Per column: "text" (left-aligned) unless every cell in it reads as a number."""
    width = max((len(row) for row in rows), default=0)
    return ["" if all(is_numeric_cell(row[c]) for row in rows if c < len(row)) else "text" for c in range(width)]


def html_cell(value, tag: str = "td", align: str | None = None) -> str:
    """One cell, left-aligned when it (or, given ``align``, its column) is text; short cells unbroken."""
    text = str(value)
    classes = [("" if is_numeric_cell(text) else "text") if align is None else align]
    if len(text) <= _NOWRAP_CHARS:
        classes.append("nowrap")
    names = " ".join(c for c in classes if c)
    attr = f' class="{names}"' if names else ""
    return f"<{tag}{attr}>{html_inline(text)}</{tag}>"


def html_table(header: list, rows: list) -> str:
    """A table whose header cells are aligned as their columns are."""
    classes = column_classes(rows)
    head = "".join(html_cell(h, "th", classes[c] if c < len(classes) else "") for c, h in enumerate(header))
    body = "".join("<tr>" + "".join(html_cell(v, align=classes[c]) for c, v in enumerate(row)) + "</tr>"
                   for row in rows)
    return f'<div class="table-wrap"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _html_text(text: str) -> str:
    """Paragraphs of plain text with `code` spans and **bold** (the little Markdown the report uses)."""
    out = []
    for paragraph in str(text).split("\n\n"):
        escaped = html_inline(paragraph)
        if escaped.lstrip().startswith("- "):
            items = [line.strip()[2:] for line in escaped.splitlines() if line.strip().startswith("- ")]
            out.append("<ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>")
        else:
            out.append(f"<p>{escaped}</p>")
    return "\n".join(out)


def render_html(title: str, intro: str, sections: list, folder) -> str:
    folder = Path(folder)
    body = [f"<h1>{html.escape(title)}</h1>", _html_text(intro)]
    for section in sections:
        body.append(f"<h2>{html.escape(section.title)}</h2>")
        if section.intro:
            body.append(_html_text(section.intro))
        for item in section.items:
            if isinstance(item, Table):
                if item.title:
                    body.append(f"<h3>{html.escape(item.title)}</h3>")
                body.append(html_table(item.header, item.rows))
                if item.caption:
                    body.append(f'<div class="caption">{_html_text(item.caption)}</div>')
            elif isinstance(item, Figure):
                body.append(f'<figure><img alt="{html.escape(item.title)}" src="{_inline_png(folder, item.path)}">'
                            f"<figcaption><strong>{html.escape(item.title)}.</strong> "
                            f"{html_inline(item.caption)}</figcaption></figure>")
            elif isinstance(item, Missing):
                body.append(f'<div class="missing"><strong>{html.escape(item.title)}: no data.</strong> '
                            f"{html_inline(item.reason)}</div>")
            else:
                body.append(_html_text(str(item)))
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{BASE_STYLE}</style></head><body>\n"
            + "\n".join(body) + "\n</body></html>\n")

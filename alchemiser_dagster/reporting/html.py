"""Small, dependency-free HTML building blocks; every value is escaped.

Pages are self-contained (inline CSS, images as `data:` URIs or `cid:` references), so a
report opens the same from a disk, an S3 console or a mail client.
"""

import base64
from collections.abc import Iterable, Sequence
from html import escape

STYLE = """
body { font-family: -apple-system, Segoe UI, Helvetica, Arial, sans-serif; color: #1f2933;
       max-width: 1000px; margin: 24px auto; padding: 0 16px; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 28px; border-bottom: 1px solid #d9e2ec; }
h3 { font-size: 15px; margin-bottom: 4px; }
table { border-collapse: collapse; margin: 8px 0; font-size: 13px; }
th, td { border: 1px solid #d9e2ec; padding: 3px 8px; }
th { background: #f0f4f8; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.headline { font-weight: 600; } .error { color: #b42318; } .warn { color: #b54708; }
.muted { color: #616e7c; } code { font-size: 12px; }
img { max-width: 100%; }
"""


def esc(value: object) -> str:
    return escape(str(value), quote=True)


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def table(headers: Sequence[str], rows: Iterable[Sequence[object]], numeric: Sequence[bool]) -> str:
    """A table; columns flagged in `numeric` are right-aligned. Cells are escaped."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="num">{esc(c)}</td>' if n else f"<td>{esc(c)}</td>"
            for c, n in zip(row, numeric, strict=True)
        )
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def image(src: str, alt: str) -> str:
    return f'<p><img src="{esc(src)}" alt="{esc(alt)}"></p>'


def page(title: str, body: Iterable[str]) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{esc(title)}</title><style>{STYLE}</style></head>"
        f"<body>{''.join(body)}</body></html>\n"
    )

"""Make HTML from an email safe to show inside the CRM (nh3 / ammonia allow-list).

What survives:
* ammonia's default tags and attributes (formatting, links, tables, images) plus an inline `style`
  attribute reduced to layout/typography properties that cannot fetch anything (no `url()`-capable
  property such as `background`, `background-image`, `list-style`, `cursor`, `border-image`), and
  no `position` (a message must not overlay the app);
* links to http(s)/mailto/tel only, each with `rel="noopener noreferrer" target="_blank"`.

What goes: script/style/title/template/iframe/object/embed/form and every other unknown tag (the
dangerous ones with their content), event handlers (`on*`), `class`/`id` (would collide with the
app's CSS and anchors), `javascript:`, `vbscript:` and `data:` links, and relative URLs (meaningless in
mail; protocol-relative `//host/x` would load remotely).

Images. Remote images are not loaded by default (tracking pixels, IP/read-time leaks): every image
`src` that is not `cid:` or `data:image/*` is renamed to `data-remote-src`, which the web room may
swap back when the user asks to load images. The rule is an allow-list on purpose: browsers strip
leading/trailing spaces and control characters from a URL and drop tabs and newlines inside it, so
`" http://…"`, `"\thttp://…"` or `"ht&#9;tp://…"` all load remotely, and nh3 lets them through as
http. `cid:` sources stay, so the web room can point them at the stored inline attachment (a
browser cannot fetch `cid:` on its own). `data:image/*` sources stay too: they are already inside the
message, load nothing remote, and cannot run script in an `<img>`.

Size. `sanitize_html_within(html, max_chars)` also bounds the result: it is cut at a tag boundary
and cleaned once more, so the stored fragment is still balanced markup.
"""

from __future__ import annotations

import re
from html import unescape

import nh3

__all__ = ["REMOTE_SRC_ATTRIBUTE", "sanitize_html", "sanitize_html_within"]

REMOTE_SRC_ATTRIBUTE = "data-remote-src"

_CLEAN_CONTENT_TAGS = {"script", "style", "title", "template", "noscript"}
_URL_SCHEMES = {"http", "https", "mailto", "tel", "cid", "data"}  # cid/data narrowed in _filter
_SAFE_CSS = {
    "color", "background-color",
    "font", "font-family", "font-size", "font-style", "font-weight", "font-variant",
    "text-align", "text-decoration", "text-indent", "text-transform", "line-height",
    "letter-spacing", "word-spacing", "vertical-align", "white-space", "direction",
    "margin", "margin-top", "margin-right", "margin-bottom", "margin-left",
    "padding", "padding-top", "padding-right", "padding-bottom", "padding-left",
    "border", "border-top", "border-right", "border-bottom", "border-left",
    "border-color", "border-style", "border-width", "border-collapse", "border-spacing",
    "border-radius", "width", "height", "max-width", "min-width", "max-height", "min-height",
    "display", "list-style-type", "table-layout",
}  # fmt: skip

# nh3 output is canonical: attributes are `name="value"` with `"` escaped, so this is exact.
_IMG_TAG = re.compile(r'<img((?:\s+[^\s="/>]+(?:="[^"]*")?)*)\s*/?>')
_SRC = re.compile(r'(\s)src="([^"]*)"')
# What a browser's URL parser removes before reading the scheme (WHATWG URL: leading/trailing C0
# controls and spaces, every tab and newline anywhere).
_URL_IGNORED = re.compile(r"[\x00-\x20]")
_LOCAL_SOURCES = ("cid:", "data:image/")


def _attributes() -> dict[str, set[str]]:
    attributes = {tag: set(names) for tag, names in nh3.ALLOWED_ATTRIBUTES.items()}
    attributes["*"] = {"style"}
    return attributes


_ATTRIBUTES = _attributes()


def _filter(tag: str, attribute: str, value: str) -> str | None:
    lowered = value.strip().lower()
    if lowered.startswith("data:"):
        return value if tag == "img" and attribute == "src" and lowered.startswith("data:image/") else None
    if lowered.startswith("cid:"):
        return value if tag == "img" and attribute == "src" else None
    return value


def _park_src(match: re.Match[str]) -> str:
    # Stricter than the browser (every C0 character and space goes, not only at the edges): a
    # source we keep must be local however it is read.
    url = _URL_IGNORED.sub("", unescape(match.group(2))).lower()
    if url.startswith(_LOCAL_SOURCES):
        return match.group(0)
    return f'{match.group(1)}{REMOTE_SRC_ATTRIBUTE}="{match.group(2)}"'


def _park_remote_src(match: re.Match[str]) -> str:
    return _SRC.sub(_park_src, match.group(0))


def sanitize_html(html: str) -> str:
    """Sanitised HTML fragment (see the module docstring for the rules)."""
    return _park(_clean(html))


def sanitize_html_within(html: str, max_chars: int) -> tuple[str, bool]:
    """Sanitised HTML of at most `max_chars` characters, and whether anything was cut off."""
    cut = len(html) > max_chars
    if cut:
        html = _cut_at_tag(html, max_chars)  # bounds the cleaner's work too (17 MB took seconds)
    cleaned = _clean(html)
    result = _park(cleaned)
    limit = max_chars
    while len(result) > max_chars:
        # The cleaner's output grows (quotes, rel="noopener noreferrer", "&lt;"), and cleaning a
        # cut fragment again closes the tags the cut left open: cut shorter until it fits.
        cut = True
        limit = min(limit, len(cleaned)) * 9 // 10
        cleaned = _clean(_cut_at_tag(cleaned, limit))
        result = _park(cleaned)
    return result, cut


def _cut_at_tag(html: str, limit: int) -> str:
    """The first `limit` characters, shortened to end before a "<". In cleaned markup text never
    holds a "<" (it is escaped), so the cut falls between tags; a "<" inside an attribute value
    cuts that one tag, and cleaning the fragment again drops it whole."""
    head = html[:limit]
    boundary = head.rfind("<")
    return head[:boundary] if boundary > 0 else head


def _park(cleaned: str) -> str:
    return _IMG_TAG.sub(_park_remote_src, cleaned)


def _clean(html: str) -> str:
    return nh3.clean(
        html,
        clean_content_tags=_CLEAN_CONTENT_TAGS,
        attributes=_ATTRIBUTES,
        attribute_filter=_filter,
        url_schemes=_URL_SCHEMES,
        url_relative="deny",
        link_rel="noopener noreferrer",
        set_tag_attribute_values={"a": {"target": "_blank"}},
        filter_style_properties=_SAFE_CSS,
        strip_comments=True,
    )

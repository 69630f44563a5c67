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

Images. Remote images are not loaded by default (tracking pixels, IP/read-time leaks): an http(s)
`src` is renamed to `data-remote-src`, which the web room may swap back when the user asks to load
images. `cid:` sources stay, so the web room can point them at the stored inline attachment (a
browser cannot fetch `cid:` on its own). `data:image/*` sources stay too: they are already inside the
message, load nothing remote, and cannot run script in an `<img>`.
"""

from __future__ import annotations

import re

import nh3

__all__ = ["REMOTE_SRC_ATTRIBUTE", "sanitize_html"]

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
_REMOTE_SRC = re.compile(r'(\s)src="(?=https?://)', re.IGNORECASE)


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


def _park_remote_src(match: re.Match[str]) -> str:
    return _REMOTE_SRC.sub(rf'\1{REMOTE_SRC_ATTRIBUTE}="', match.group(0))


def sanitize_html(html: str) -> str:
    """Sanitised HTML fragment (see the module docstring for the rules)."""
    cleaned = nh3.clean(
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
    return _IMG_TAG.sub(_park_remote_src, cleaned)

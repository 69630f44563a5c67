"""HTML written in the composer's rich-text editor, made safe to send: a small allow-list (bold,
italic, underline, links, lists, paragraphs, line breaks, quotes) and nothing else — no scripts, no
event handlers, no styles, only http(s) and mailto links. The plain-text alternative is derived here
from the cleaned HTML, never taken from the client (a text part could say something else).

Stricter than `sanitize.sanitize_html` (which shows received mail as it was written): what we send
in the user's name carries only the formatting the toolbar can make."""

from __future__ import annotations

import re
from html import escape, unescape

import nh3

from inboxlink.mime._text import html_to_text

__all__ = ["composed_html", "text_alternative", "text_to_html"]

_TAGS = {"p", "div", "br", "b", "strong", "i", "em", "u", "a", "ul", "ol", "li", "blockquote"}
_ATTRIBUTES = {"a": {"href"}}
_LINK = re.compile(r'<a href="([^"]*)"[^>]*>(.*?)</a>', re.DOTALL)
_TAG = re.compile(r"<[^>]+>")


def composed_html(html: str) -> str:
    """The editor's HTML with everything outside the allow-list removed (script content too)."""
    cleaned = nh3.clean(
        html,
        tags=_TAGS,
        clean_content_tags={"script", "style"},
        attributes=_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        url_relative="deny",
        link_rel="noopener noreferrer",
        strip_comments=True,
    )
    return cleaned.strip()


def _link_text(match: re.Match[str]) -> str:
    url = unescape(match.group(1))
    label = unescape(_TAG.sub("", match.group(2))).strip()
    # "label (url)" like mail clients' text parts; a bare URL as its own label once.
    shown = url.removeprefix("mailto:")
    return escape(shown if not label or label in (url, shown) else f"{label} ({shown})")


def text_alternative(cleaned: str) -> str:
    """The plain-text part for `cleaned` (output of `composed_html`): paragraphs, "- " list items
    and each link's address after its words."""
    text = html_to_text(_LINK.sub(_link_text, cleaned))
    # Lines are stripped on the way; the signature delimiter is "-- " with its space (RFC 3676).
    return "\n".join("-- " if line == "--" else line for line in text.split("\n"))


def text_to_html(text: str) -> str:
    """Plain text (a signature, a forwarded original) as HTML: escaped, line breaks kept."""
    return escape(text.replace("\r\n", "\n")).replace("\n", "<br>\n")

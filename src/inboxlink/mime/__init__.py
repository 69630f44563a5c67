"""RFC 5322 bytes ⇄ domain objects.

* `scan_headers` — byte-level Message-ID / In-Reply-To / References scan for the sync hot path.
* `parse_message` — full decode of a matched message (email.policy.default), never raises.
* `build_message` — render an `OutgoingMessage` (CRLF, 7-bit, no Bcc header).
* `sanitize_html` — nh3 allow-list; remote images parked in `data-remote-src`.
* `safe_filename` — attachment names safe to store and download.
"""

from inboxlink.mime.build import build_message
from inboxlink.mime.headers import scan_headers
from inboxlink.mime.parse import DEFAULT_MAX_ATTACHMENT_BYTES, parse_message, safe_filename
from inboxlink.mime.sanitize import REMOTE_SRC_ATTRIBUTE, sanitize_html

__all__ = [
    "DEFAULT_MAX_ATTACHMENT_BYTES",
    "REMOTE_SRC_ATTRIBUTE",
    "build_message",
    "parse_message",
    "safe_filename",
    "sanitize_html",
    "scan_headers",
]

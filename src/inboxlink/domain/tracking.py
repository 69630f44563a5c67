"""Which tracked ids count for whom, and the MAC that proves a copy of our own email is ours.

A tracked Message-ID makes every message that answers it get fetched in full and logged, so who
chose the id decides how far it may reach (docs/architecture.md, "Which ids are tracked, for whom"):

* ``team`` — ids inboxlink made itself: CRM sends, and the id a relay gave such an email, learned
  from a Sent-folder copy whose `X-Inboxlink-Id` carries a valid MAC. Nobody outside chose them.
* ``user:<id>`` — the user's own outbound mail (found in their Sent folder, or Bcc'd to their
  logging address): its id was chosen by their mail client, or by whoever sent it to the logging
  address; answers to it come to that user's inboxes, so it counts there and nowhere else.
* ``inbox:<id>`` — ids learned from inbound mail: the sender chose them, so they count only for the
  inbox that received the message (an outsider must never make a teammate's private mail match).

The MAC: HMAC-SHA256 over the Message-ID (UTF-8, without angle brackets) with a key derived from
the installation secret, base64url without padding (43 characters).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable

__all__ = [
    "MAC_PURPOSE",
    "TEAM",
    "inbox_scope",
    "logged_scope",
    "own_id_mac",
    "scope_rank",
    "user_scope",
    "valid_own_id_mac",
    "visible_scopes",
]

TEAM = "team"
# The purpose string of the key derivation: a key for this and nothing else (cookies use another).
MAC_PURPOSE = b"inboxlink own-id mac v1"
MAC_LENGTH = 43  # base64url of 32 bytes, without padding


def user_scope(user_id: int) -> str:
    return f"user:{user_id}"


def inbox_scope(inbox_id: int) -> str:
    return f"inbox:{inbox_id}"


def visible_scopes(inbox_id: int, user_id: int | None) -> tuple[str, ...]:
    """The scopes a monitor of this inbox looks ids up in: the team's, its user's, its own."""
    scopes = [TEAM, inbox_scope(inbox_id)]
    if user_id is not None:
        scopes.insert(1, user_scope(user_id))
    return tuple(scopes)


def logged_scope(source: str, user_id: int | None, inbox_id: int | None) -> str | None:
    """The scope of a stored email's own Message-ID, by where the email came from. None: untracked.

    Unknown sources get the narrowest scope there is, never the team's."""
    if source == "crm":
        return TEAM
    if source in {"sent_folder", "bcc"} and user_id is not None:
        return user_scope(user_id)
    if inbox_id is not None:
        return inbox_scope(inbox_id)
    if user_id is not None:
        return user_scope(user_id)
    return None


def scope_rank(scope: str) -> int:
    """When one id is tracked in several visible scopes, the most trusted mapping wins (lowest)."""
    if scope == TEAM:
        return 0
    return 1 if scope.startswith("user:") else 2


def own_id_mac(key: bytes, message_id: str) -> str:
    digest = hmac.new(key, message_id.encode("utf-8", "surrogatepass"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def valid_own_id_mac(keys: Iterable[bytes], message_id: str, mac: str | None) -> bool:
    """True when `mac` was made for `message_id` with any of the keys (old keys still verify)."""
    if not mac or len(mac) != MAC_LENGTH:
        return False
    return any(hmac.compare_digest(own_id_mac(key, message_id), mac) for key in keys)

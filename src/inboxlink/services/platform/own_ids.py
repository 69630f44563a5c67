"""Signing our own id header: the MAC that lets the monitor tell a genuine copy of an email
inboxlink sent (in the user's Sent folder, maybe under a Message-ID a relay gave it) from a message
anyone could write with a copied `X-Inboxlink-Id` (see `domain.tracking`)."""

from __future__ import annotations

from inboxlink.domain.tracking import MAC_PURPOSE, own_id_mac, valid_own_id_mac
from inboxlink.services.platform.runtime import Runtime


def sign_own_id(rt: Runtime, message_id: str) -> str:
    """The MAC for an email we send now: made with the first (current) installation key."""
    return own_id_mac(rt.box.derived_keys(MAC_PURPOSE)[0], message_id)


def own_id_is_ours(rt: Runtime, message_id: str, mac: str | None) -> bool:
    """Whether `mac` proves `message_id` is an id inboxlink signed, under any configured key."""
    return valid_own_id_mac(rt.box.derived_keys(MAC_PURPOSE), message_id, mac)

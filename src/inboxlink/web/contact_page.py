"""What a contact's record page is made of, shared by the page itself and by the composer's error
page (issue 14: the record re-rendered after a composer error used to miss its profile and
sequence parts): the timeline page, the composer (new email, reply, reply-all, forward, a restored
draft, the signature) and the side cards."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import Request

from inboxlink.services.accounts import inboxes
from inboxlink.services.accounts.users import Caller
from inboxlink.services.crm import records, unread
from inboxlink.services.errors import NotFound, ServiceError
from inboxlink.services.mail import drafts, signatures
from inboxlink.services.mail.forwarding import forward_of
from inboxlink.services.validation import MAX_DB_INT, MIN_DB_INT
from inboxlink.web import contact_manage_routes, sequence_routes
from inboxlink.web import format as fmt
from inboxlink.web.deps import WebState

TIMELINE_PAGE = 25  # emails per page of a contact's record (each may carry up to 2 MB of HTML)
FILES_SHOWN = 50  # attachments listed beside it; the older ones stay on their emails


def conversations(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Threads, the most recently active first; inside a thread, oldest first (read top-down)."""
    threads: dict[object, dict[str, Any]] = {}
    for email in items:  # newest first, so the first email seen sets the thread's position
        thread = threads.setdefault(
            email["thread_id"], {"id": email["thread_id"], "emails": [], "latest": email}
        )
        thread["emails"].insert(0, email)
    for thread in threads.values():
        thread["subject"] = thread["emails"][0]["subject"] or "(no subject)"
    return list(threads.values())


async def timeline_context(
    web: WebState, caller: Caller, contact_id: int, before: str | None = None, show: str = "all"
) -> dict[str, Any]:
    """One page of the record: the newest TIMELINE_PAGE emails (or those before the `before` cursor,
    the "Older emails" link) and the newest FILES_SHOWN attachments. Never the whole history: one
    contact can hold any number of emails, and a page of everything once weighed 60 MB."""
    show = show if show in records.EMAIL_FILTERS else "all"
    try:
        page = await records.contact_emails(
            web.rt, caller, contact_id, limit=TIMELINE_PAGE, before=before, show=show
        )
    except ServiceError:  # a cursor that was edited or cut off: show the newest emails instead
        before = None
        page = await records.contact_emails(web.rt, caller, contact_id, limit=TIMELINE_PAGE, show=show)
    files = await records.contact_attachments(web.rt, caller, contact_id, limit=FILES_SHOWN)
    base = f"/contacts/{contact_id}"
    kept = {"show": show} if show != "all" else {}
    return {
        "threads": conversations(page.items),
        "email_count": len(page.items),
        "older_url": f"{base}?{urlencode({**kept, 'before': page.next_cursor})}#timeline"
        if page.next_cursor
        else None,
        "newest_url": f"{base}{'?' + urlencode(kept) if kept else ''}#timeline" if before else None,
        # Issue 14: the filters above the timeline (each link starts from the newest page).
        "show": show,
        "filter_links": {
            k: f"{base}{'?show=' + k if k != 'all' else ''}#timeline" for k in records.EMAIL_FILTERS
        },
        "files": files.items,
        "more_files": files.next_cursor is not None,
        "contact_id": contact_id,
        # Unread replies stand out; the full page marks them read (contact_record), a live
        # fragment leaves that to the reader scrolling them into view (replies.js).
        "unread_ids": await unread.unread_among(web.rt, caller, [int(str(e["id"])) for e in page.items]),
        "own_addresses": await own_addresses(web, caller),  # left out of Reply all (issue 14 item 6)
    }


async def sending_context(web: WebState, caller: Caller) -> dict[str, Any]:
    """The caller's own inboxes for the composer's From, and whether any of them can send."""
    own = [i for i in await inboxes.list_inboxes(web.rt, caller) if i["user_id"] == caller.user_id]
    return {"inboxes": own, "can_send": any(i["status"] == "connected" for i in own)}


async def reply_context(
    web: WebState, caller: Caller, contact: dict[str, Any], email_id: int | None
) -> dict[str, Any] | None:
    """The email being answered as the composer shows it; None when it is unknown or not on this record."""
    if email_id is None or not MIN_DB_INT <= email_id <= MAX_DB_INT:
        return None
    try:
        email = await records.get_email(web.rt, caller, email_id)
    except NotFound:
        return None
    on_record = email["contact_ids"]
    if not isinstance(on_record, list) or contact["id"] not in on_record:
        return None
    everyone = fmt.reply_all_target(email, await own_addresses(web, caller))
    return {"id": email["id"], **fmt.reply_target(email), "all_to": everyone["to"], "all_cc": everyone["cc"]}


async def own_addresses(web: WebState, caller: Caller) -> list[str]:
    """The caller's own addresses (sign-in and inboxes): never recipients of their reply-all."""
    own = [i["email"] for i in await inboxes.list_inboxes(web.rt, caller) if i["user_id"] == caller.user_id]
    return [caller.email, *(str(a) for a in own)]


async def forward_context(
    web: WebState, caller: Caller, contact: dict[str, Any], email_id: int | None
) -> dict[str, Any] | None:
    """The email being forwarded as the composer shows it (the quoted block the server will add,
    its attachments to offer); None when it is unknown or not on this record."""
    target = await reply_context(web, caller, contact, email_id)  # same checks as a reply
    if target is None or email_id is None:
        return None
    forward = await forward_of(web.rt, caller, email_id, False)
    assert forward is not None
    email = await records.get_email(web.rt, caller, email_id)
    listed = email["attachments"]
    files = (
        [f for f in listed if isinstance(f, dict) and f.get("available")] if isinstance(listed, list) else []
    )
    return {
        "id": email_id,
        "label": target["label"],
        "subject": forward.subject,
        "block": forward.block,
        "files": files,
    }


def new_compose(contact: dict[str, Any], signature: str) -> dict[str, str]:
    """An empty composer to the contact, the signature under an empty first paragraph."""
    return {
        "to": str(contact["email"]),
        "cc": "",
        "subject": "",
        "text": signatures.signed("", signature),
        "html": "",
        "in_reply_to_email_id": "",
        "forward_of_email_id": "",
        "draft_context": "new",
    }


async def composer_state(
    web: WebState,
    caller: Caller,
    contact: dict[str, Any],
    *,
    reply: int | None = None,
    reply_all: bool = False,
    forward: int | None = None,
) -> dict[str, Any]:
    """The composer as the record opens: answering `reply`, forwarding `forward`, or a new email;
    the caller's saved draft of that composer (or, opening plainly, their latest one) restored."""
    signature = await signatures.get_signature(web.rt, caller)
    values = new_compose(contact, signature)
    replying = await reply_context(web, caller, contact, reply)
    forwarding = None if replying else await forward_context(web, caller, contact, forward)
    if replying:
        values.update(
            to=replying["all_to"] if reply_all else replying["to"] or str(contact["email"]),
            cc=replying["all_cc"] if reply_all else "",
            subject=replying["subject"],
            in_reply_to_email_id=str(replying["id"]),
            draft_context=f"reply:{replying['id']}",
        )
    elif forwarding:
        values.update(
            to="", subject=forwarding["subject"], forward_of_email_id=str(forwarding["id"]),
            draft_context=f"forward:{forwarding['id']}",
        )  # fmt: skip
    asked = replying is not None or forwarding is not None
    draft = await drafts.get_draft(
        web.rt, caller, int(contact["id"]), values["draft_context"] if asked else None
    )
    if draft is not None and not asked and draft["context"] != "new":
        # The latest draft answers an email: reopen that composer, if the email is still here.
        kind, _, raw_id = str(draft["context"]).partition(":")
        target = int(raw_id)
        again = await composer_state(
            web,
            caller,
            contact,
            reply=target if kind == "reply" else None,
            forward=target if kind == "forward" else None,
        )
        if again["draft"] is not None:
            return again
        draft = None
    if draft is not None:
        values.update({k: str(draft[k]) for k in ("to", "cc", "subject", "text", "html")})
    return {
        "compose": values,
        "replying": replying,
        "forwarding": forwarding,
        "draft": draft,
        "forward_files_checked": draft is None or draft.get("forward_attachments") == "1",
        "compose_open": asked or draft is not None,
        "signature": signature,
        "fresh_text": signatures.signed("", signature),  # what the composer holds after a send
    }


async def record_page(
    request: Request,
    web: WebState,
    caller: Caller,
    contact: dict[str, Any],
    composer: dict[str, Any],
    *,
    compose_errors: dict[str, str] | None = None,
    just_sent: dict[str, Any] | None = None,
    before: str | None = None,
    show: str = "all",
    merged: int | None = None,
    saved: bool = False,
) -> dict[str, Any]:
    """Everything contact.html needs — the one builder for the record page and its error page."""
    contact_id = int(contact["id"])
    timeline = await timeline_context(web, caller, contact_id, before, show)
    return {
        "contact": contact,
        **await sending_context(web, caller),
        "compose_errors": compose_errors or {},
        "just_sent": just_sent,
        **composer,
        "compose_open": composer.get("compose_open") or bool(compose_errors),
        **timeline,
        # Issue 14: the profile in the Details card, and what a merge or a save just did.
        "profile": await contact_manage_routes.profile_facts(web, caller, contact_id),
        "merged_count": merged,
        "profile_saved": saved,
        **await sequence_routes.contact_context(web.rt, caller, contact_id),
        "enrol_error": sequence_routes.enrol_error(request.query_params.get("enrol_error")),
    }

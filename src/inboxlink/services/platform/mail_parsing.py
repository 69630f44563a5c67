"""The one way the services parse a message that came from outside (a reply the monitor found, mail
in the Sent folder, mail to a BCC logging address, an original attached to a forward): in a worker
process (`parse_pool`), within `INBOXLINK_PARSE_TIMEOUT` seconds, never on the event loop.

A message that cannot be parsed in time (or kills its worker) is still logged: its headers, read
with bounded work (`mime.parse.headers_only`), a body that says why nothing more is
shown, and a TRUNCATED problem, which makes the callers keep the original bytes as an attachment
(`replies.keep_original`). Nothing is lost but the rendering.
"""

from __future__ import annotations

import asyncio
import logging

from inboxlink.domain.models import ParsedMessage
from inboxlink.mime.parse import TRUNCATED, headers_only, parse_message
from inboxlink.services.platform.parse_pool import ParseTimeout, WorkerLost
from inboxlink.services.platform.runtime import Runtime

__all__ = ["TOO_COMPLEX", "parse_untrusted"]

log = logging.getLogger(__name__)

TOO_COMPLEX = "This message was too complex to display"


async def parse_untrusted(rt: Runtime, raw: bytes) -> ParsedMessage:
    """`mime.parse_message(raw)`, off the loop and within the time budget; never raises on bad mail."""
    limit = rt.settings.max_attachment_bytes
    budget = rt.settings.parse_timeout
    try:
        return await rt.parser.parse(raw, limit, budget)
    except ParseTimeout:
        problem = f"{TRUNCATED}reading the message took longer than {budget:g} s; only its headers are shown"
    except WorkerLost as exc:
        problem = f"{TRUNCATED}the message stopped its parser ({exc}); only its headers are shown"
    except OSError as exc:
        # No worker could be started (process limit, no /dev/shm …): a thread still keeps the loop
        # free, without a budget. Logged, because the host needs attention.
        log.warning("parse worker unavailable (%s); parsing a %d-byte message in a thread", exc, len(raw))
        return await asyncio.to_thread(parse_message, raw, max_attachment_bytes=limit)
    log.warning("a %d-byte message was logged with its headers only: %s", len(raw), problem)
    if len(raw) <= limit:
        text = f"{TOO_COMPLEX}; the original is attached."
    else:
        text = f"{TOO_COMPLEX}, and it is larger than the attachment limit, so the original was not kept."
    # Bounded work (64 KB per field), and still in a thread: the loop serves everyone else.
    return await asyncio.to_thread(headers_only, raw, text=text, problem=problem)

"""`ImapClient`: the IMAP operations inboxlink needs, over `transport.Connection`.

Only what the product uses (greeting, CAPABILITY, STARTTLS, LOGIN, AUTHENTICATE XOAUTH2, ENABLE,
LIST, SELECT/EXAMINE with CONDSTORE, UID SEARCH, UID FETCH, UID STORE, (UID) EXPUNGE, APPEND, IDLE,
NOTIFY SET, NOOP, LOGOUT). Parsing is
in `protocol`, encoding in `commands`, the byte stream in `transport`; this module decides what a
response means (which error, which typed result).

Exceptions, all from `inboxlink.imap.errors`; each carries `server_text` and `code` when known::

    ImapError
     ├── ConnectionFailed      refused, reset, DNS, timeout, EOF  (transient: retry with backoff)
     │    └── ServerBye        "* BYE" outside LOGOUT (shutdown, session kicked)
     ├── TlsFailed             untrusted certificate, handshake failure, STARTTLS not offered
     ├── AuthFailed            LOGIN/AUTHENTICATE answered NO (wrong password, revoked token)
     ├── Pop3Greeting          the server greeted "+OK": a POP3 server
     ├── CapabilityMissing     the server lacks what the call needs (ENABLE, IDLE, AUTH=XOAUTH2, ...)
     ├── CommandFailed         tagged NO/BAD; `.code` e.g. "UNAVAILABLE", "TRYCREATE", "NONEXISTENT"
     └── ProtocolError         the peer does not speak IMAP we understand
          └── NotImapServer    what answered did not greet like IMAP (another service on the port)

Passwords and tokens are never logged: the debug log names commands, never their arguments.
"""

from __future__ import annotations

import asyncio
import base64
import ssl
from collections.abc import Callable, Sequence
from datetime import datetime
from types import TracebackType
from typing import Self

from inboxlink.domain.connect_text import socket_text
from inboxlink.domain.connection_refusals import is_connection_limit
from inboxlink.domain.server_text import quotable

from .commands import (
    Arg,
    Literal,
    String,
    expunge_args,
    flag_list,
    format_internal_date,
    notify_set_args,
    store_flags_args,
    validate_fetch_fields,
    validate_sequence_set,
    xoauth2_response,
)
from .errors import (
    AuthFailed,
    CapabilityMissing,
    CommandFailed,
    ConnectionFailed,
    NotImapServer,
    Pop3Greeting,
    ProtocolError,
    ServerBye,
    TlsFailed,
)
from .models import FetchedMessage, MailboxInfo, Security, SelectInfo
from .protocol import (
    Capability,
    Continuation,
    Enabled,
    Exists,
    Expunge,
    Fetch,
    ListEntry,
    Response,
    Search,
    StatusResponse,
    Untagged,
    parse_status_items,
)
from .transport import COMMANDS, STREAM_LIMIT, Connection, log, untagged_text
from .utf7 import encode_mailbox

__all__ = ["ImapClient"]

# NO with these codes is the server's trouble, not wrong credentials: retry later, keep the inbox
_TRANSIENT_CODES = frozenset({"UNAVAILABLE", "SERVERBUG", "INUSE", "LIMIT"})


class ImapClient:
    """One IMAP connection. Create with `await ImapClient.connect(...)`; one command at a time."""

    def __init__(self, connection: Connection) -> None:
        self._conn = connection
        self._condstore = False  # ask for MODSEQ in FETCH once CONDSTORE is on
        self.capabilities: frozenset[str] = frozenset()
        self.greeting = ""  # the server's words in its greeting: tells Exchange on a customer's host

    @property
    def pending_exists(self) -> bool:
        """An untagged EXISTS arrived since the caller last reset this: during any command but
        SELECT/EXAMINE (whose EXISTS is the answer), idle() and noop() included; or, after
        notify_set(), an untagged STATUS (news of a watched mailbox other than the selected one). A monitor resets it
        before fetching and checks it before going back to IDLE, so mail that lands mid-fetch is
        not left waiting for the next push."""
        return self._conn.pending_exists

    @pending_exists.setter
    def pending_exists(self, value: bool) -> None:
        self._conn.pending_exists = value

    # ---- connection setup -------------------------------------------------------------------

    @classmethod
    async def connect(
        cls,
        host: str,
        port: int,
        security: Security,
        *,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = 30.0,
        address: str | None = None,
    ) -> ImapClient:
        """Connect to `host`, or to `address` when given (an IP the caller resolved and checked:
        no second lookup can answer differently); TLS still verifies the certificate for `host`."""
        if security not in ("tls", "starttls", "none"):
            raise ValueError(f"unknown security {security!r}")
        # created per call, not at import, so an SSL_CERT_FILE set later is honoured
        context = ssl_context or (ssl.create_default_context() if security != "none" else None)
        client: ImapClient | None = None
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(
                    address or host,
                    port,
                    ssl=context if security == "tls" else None,
                    server_hostname=host if security == "tls" else None,
                    limit=STREAM_LIMIT,
                )
                client = cls(Connection(reader, writer, timeout))
                await client._greet()
                if security == "starttls":
                    await client._starttls(context or ssl.create_default_context(), host)
        except BaseException as exc:
            if client is not None:
                await client.close()
            translated = _translate_connect_error(exc, host, port)
            if translated is exc:
                raise
            raise translated from exc
        return client

    async def _greet(self) -> None:
        greeting = await self._conn.greeting()
        if isinstance(greeting, Continuation) and greeting.raw[:3].upper() == b"+OK":
            raise Pop3Greeting("the server greeted like POP3, not IMAP")
        if not isinstance(greeting, StatusResponse) or greeting.tag is not None:
            raise NotImapServer("the server did not greet like an IMAP server")
        if greeting.status == "BYE":
            raise ServerBye("the server refused the connection", server_text=greeting.text)
        if greeting.status not in ("OK", "PREAUTH"):
            raise ProtocolError("the server did not accept the connection", server_text=greeting.text)
        self.greeting = quotable(greeting.text)
        await self._refresh_capabilities(greeting)

    async def _starttls(self, context: ssl.SSLContext, host: str) -> None:
        if "STARTTLS" not in self.capabilities:
            raise TlsFailed("the server does not offer STARTTLS; refusing to continue in plaintext")
        _, tagged = await self._conn.command(["STARTTLS"])
        if tagged.status != "OK":
            raise TlsFailed("STARTTLS refused", server_text=tagged.text, code=tagged.code)
        await self._conn.start_tls(context, host)
        self.capabilities = frozenset()  # what was said in plaintext is not to be trusted
        await self._refresh_capabilities(None)

    async def _refresh_capabilities(self, resp: StatusResponse | None) -> None:
        """Take `[CAPABILITY ...]` from `resp` if it has one, else ask with CAPABILITY."""
        if resp is not None and resp.code == "CAPABILITY" and resp.code_data:
            caps = frozenset(resp.code_data.upper().split())
        else:
            untagged, _ = await self._checked(["CAPABILITY"])
            found = [r.capabilities for r in untagged if isinstance(r, Capability)]
            if not found:
                raise ProtocolError("CAPABILITY answered without capabilities")
            caps = frozenset().union(*found)
        self.capabilities = _shared(caps)
        self._conn.nonsync_limit = 1 << 62 if "LITERAL+" in caps else 4096 if "LITERAL-" in caps else 0

    # ---- authentication ---------------------------------------------------------------------

    async def login(self, username: str, password: str) -> None:
        if "LOGINDISABLED" in self.capabilities:
            raise CapabilityMissing("the server refuses LOGIN on this connection (LOGINDISABLED)")
        # String: quoted when printable ASCII (escaping " and \), a UTF-8 literal otherwise
        _, tagged = await self._conn.command(["LOGIN", String(username), String(password)])
        await self._after_auth(tagged)

    async def authenticate_xoauth2(self, username: str, access_token: str) -> None:
        if "AUTH=XOAUTH2" not in self.capabilities:
            raise CapabilityMissing("the server does not offer AUTH=XOAUTH2")
        initial = xoauth2_response(username, access_token)
        if "SASL-IR" in self.capabilities:
            args: list[Arg] = ["AUTHENTICATE", "XOAUTH2", initial]
            follow_up: list[bytes] = []
        else:
            args, follow_up = ["AUTHENTICATE", "XOAUTH2"], [initial.encode("ascii") + b"\r\n"]
        challenges: list[str] = []

        def answer(challenge: Continuation) -> bytes:
            # on failure the server sends a base64 JSON error as a challenge; an empty line ends it
            challenges.append(challenge.text)
            return b"\r\n"

        _, tagged = await self._conn.command(args, extra=follow_up, on_challenge=answer)
        await self._after_auth(tagged, " ".join(_b64_text(c) for c in challenges))

    async def _after_auth(self, tagged: StatusResponse, detail: str = "") -> None:
        if tagged.status != "OK":
            text, code = f"{tagged.text} {detail}".strip(), tagged.code
            if code in _TRANSIENT_CODES or is_connection_limit(text, code):
                # Over the account's connection cap (Gmail: "NO [ALERT] Too many simultaneous
                # connections"): the password is fine, so the inbox must not be disconnected for it.
                limit = "LIMIT" if is_connection_limit(text, code) else code
                raise CommandFailed("login temporarily unavailable", server_text=text, code=limit)
            if code == "PRIVACYREQUIRED":
                raise TlsFailed("the server requires TLS before login", server_text=text, code=code)
            raise AuthFailed("authentication failed", server_text=text, code=code)
        await self._refresh_capabilities(tagged)  # they change after login

    async def enable(self, *caps: str) -> None:
        if "ENABLE" not in self.capabilities:
            raise CapabilityMissing("the server does not support ENABLE")
        untagged, _ = await self._checked(["ENABLE", *(c.upper() for c in caps)])
        enabled = {c for r in untagged if isinstance(r, Enabled) for c in r.capabilities}
        self._condstore = self._condstore or bool(enabled & {"CONDSTORE", "QRESYNC"})

    # ---- mailboxes --------------------------------------------------------------------------

    async def list_mailboxes(self) -> list[MailboxInfo]:
        untagged, _ = await self._checked(["LIST", '""', '"*"'])
        return [r.mailbox for r in untagged if isinstance(r, ListEntry)]

    async def select(self, mailbox: str, *, readonly: bool = False, condstore: bool = False) -> SelectInfo:
        args: list[Arg] = ["EXAMINE" if readonly else "SELECT", String(encode_mailbox(mailbox))]
        if condstore and "CONDSTORE" in self.capabilities:
            args.append("(CONDSTORE)")
            self._condstore = True
        # EXISTS here is the answer, not news: keep it out of pending_exists
        untagged, _ = await self._checked(args, solicited_exists=True)
        exists = None
        codes: dict[str, int | None] = {}
        for r in untagged:
            if isinstance(r, Exists):
                exists = r.count
            elif isinstance(r, StatusResponse) and r.code:
                codes[r.code] = r.code_int()
        uidvalidity = codes.get("UIDVALIDITY")
        if exists is None or uidvalidity is None:
            raise ProtocolError(f"SELECT {mailbox!r} answered without EXISTS or UIDVALIDITY")
        return SelectInfo(exists, uidvalidity, codes.get("UIDNEXT"), codes.get("HIGHESTMODSEQ"))

    async def status(self, mailbox: str, items: Sequence[str]) -> dict[str, int]:
        """STATUS `mailbox` (items such as UIDNEXT, UIDVALIDITY) → {item: number}; items the server
        left out are missing from the result."""
        args: list[Arg] = ["STATUS", String(encode_mailbox(mailbox)), "(" + " ".join(items) + ")"]
        untagged, _ = await self._checked(args)
        found: dict[str, int] = {}
        for r in untagged:
            if isinstance(r, Untagged) and r.name == "STATUS":
                found.update(parse_status_items(r.raw))
        return found

    async def unselect(self) -> None:
        """Leave the selected mailbox without expunging: UNSELECT (RFC 3691) where offered, else
        CLOSE, which expunges nothing for a mailbox opened with EXAMINE (RFC 3501 6.4.2). Courier
        refuses an APPEND into the mailbox that is selected read-only until it is left."""
        await self._checked(["UNSELECT" if "UNSELECT" in self.capabilities else "CLOSE"])

    # ---- messages ---------------------------------------------------------------------------

    async def uid_search(self, criteria: str) -> list[int]:
        untagged, _ = await self._checked(["UID", "SEARCH", criteria])
        return sorted({uid for r in untagged if isinstance(r, Search) for uid in r.ids})

    async def uid_search_header(self, field: str, value: str) -> list[int]:
        """UIDs whose header `field` contains `value`; the value goes out as an astring (quoted and
        escaped, or a literal), so text someone else chose cannot break out of the command."""
        untagged, _ = await self._checked(["UID", "SEARCH", "HEADER", field, String(value)])
        return sorted({uid for r in untagged if isinstance(r, Search) for uid in r.ids})

    async def uid_fetch(self, uid_set: str, items: str) -> list[FetchedMessage]:
        """UID FETCH with raw `items` (e.g. "(UID FLAGS RFC822.SIZE)"); FETCH responses without a
        UID (unsolicited flag updates) are left out."""
        messages: list[FetchedMessage] = []

        def keep(r: Fetch) -> None:  # converted on arrival: no second 100k-object list to collect
            if r.uid is not None:
                messages.append(FetchedMessage(r.uid, r.flags, r.modseq, r.header, r.body, r.size))

        await self._checked(["UID", "FETCH", validate_sequence_set(uid_set), items], on_fetch=keep)
        COMMANDS["FETCH responses"] += len(messages)  # messages fetched, for the metrics
        return messages

    async def fetch_headers(self, uid_set: str, fields: Sequence[str]) -> list[FetchedMessage]:
        modseq = " MODSEQ" if self._condstore else ""
        items = f"(UID FLAGS{modseq} BODY.PEEK[HEADER.FIELDS ({validate_fetch_fields(tuple(fields))})])"
        # a concurrent flag change may add a FETCH with UID + FLAGS only: not an answer
        return [m for m in await self.uid_fetch(uid_set, items) if m.header is not None]

    async def fetch_full(self, uid: int) -> FetchedMessage | None:
        modseq = " MODSEQ" if self._condstore else ""
        for msg in await self.uid_fetch(str(uid), f"(UID FLAGS{modseq} BODY.PEEK[])"):
            if msg.uid == uid and msg.body is not None:
                return msg
        return None

    async def append(
        self,
        mailbox: str,
        message: bytes,
        flags: Sequence[str] = ("\\Seen",),
        date: datetime | None = None,
    ) -> int | None:
        """APPEND; returns the new UID when the server reports APPENDUID (RFC 4315)."""
        args: list[Arg] = ["APPEND", String(encode_mailbox(mailbox)), flag_list(tuple(flags))]
        if date is not None:
            args.append(format_internal_date(date))
        _, tagged = await self._checked([*args, Literal(message)])
        return tagged.code_int(1) if tagged.code == "APPENDUID" else None

    async def uid_store(self, uid_set: str, flags: Sequence[str], *, mode: str = "+") -> None:
        """Add (`+`), remove (`-`) or set (``) flags on messages; needs a read-write SELECT."""
        await self._checked(store_flags_args(uid_set, tuple(flags), mode=mode))

    async def expunge(self, uid_set: str | None = None) -> list[int]:
        """Remove messages flagged \\Deleted; returns the sequence numbers the server expunged.
        With `uid_set`, UID EXPUNGE (UIDPLUS) removes only those; without, every \\Deleted
        message of the selected mailbox goes, so callers that mean one message pass its UID."""
        if uid_set is not None and "UIDPLUS" not in self.capabilities:
            raise CapabilityMissing("the server does not support UID EXPUNGE (UIDPLUS)")
        untagged, _ = await self._checked(expunge_args(uid_set))
        return [r.seq for r in untagged if isinstance(r, Expunge)]

    # ---- waiting for news -------------------------------------------------------------------

    async def idle(self, timeout: float) -> list[str]:
        """Wait in IDLE until the server pushes something or `timeout` seconds pass; returns the
        untagged lines seen (e.g. ["5 EXISTS", "1 RECENT"]), [] on timeout. BYE → ServerBye.
        Cancelling the caller mid-IDLE leaves the connection unusable: close it and reconnect.
        Servers may drop an IDLE after 30 minutes (RFC 2177): keep `timeout` well below."""
        if "IDLE" not in self.capabilities:
            raise CapabilityMissing("the server does not support IDLE")
        return await self._conn.idle(timeout)

    async def notify_set(self, mailbox: str | None) -> None:
        """NOTIFY SET (RFC 5465): from now on the server reports new/expunged messages of the
        selected mailbox and of `mailbox` (an untagged STATUS, which also sets pending_exists) on
        this connection, in IDLE or during any command. CapabilityMissing where not offered."""
        if "NOTIFY" not in self.capabilities:
            raise CapabilityMissing("the server does not support NOTIFY")
        await self._checked(notify_set_args(None if mailbox is None else encode_mailbox(mailbox)))

    async def noop(self) -> list[str]:
        untagged, _ = await self._checked(["NOOP"])
        return [untagged_text(r) for r in untagged]

    # ---- teardown ---------------------------------------------------------------------------

    async def logout(self) -> None:
        """Best effort LOGOUT, then close; never raises."""
        try:
            if self._conn.broken is None:
                async with asyncio.timeout(min(self._conn.timeout, 5.0)):
                    await self._conn.command(["LOGOUT"], bye_ok=True)
        except Exception as exc:  # the session ends either way
            log.debug("IMAP LOGOUT failed: %r", exc)
        finally:
            await self.close()

    async def close(self) -> None:
        """Close the transport without LOGOUT; never raises."""
        await self._conn.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.logout()

    async def _checked(
        self,
        args: list[Arg],
        *,
        solicited_exists: bool = False,
        on_fetch: Callable[[Fetch], None] | None = None,
    ) -> tuple[list[Response], StatusResponse]:
        """Run a command; a tagged NO/BAD becomes CommandFailed carrying the response code."""
        untagged, tagged = await self._conn.command(
            args, solicited_exists=solicited_exists, on_fetch=on_fetch
        )
        if tagged.status != "OK":
            name = f"{args[0]} {args[1]}" if args[0] == "UID" else str(args[0])
            failed = CommandFailed(f"{name} failed", server_text=tagged.text, code=tagged.code)
            failed.args = (f"{name} failed: {failed.server_text or tagged.status}",)
            raise failed
        return untagged, tagged


# Every session to one server announces the same ~40 capabilities: one frozenset for all of them
# (~4 KiB per inbox otherwise). Bounded: a server varying its list cannot grow it.
_CAPABILITY_SETS: dict[frozenset[str], frozenset[str]] = {}


def _shared(caps: frozenset[str]) -> frozenset[str]:
    if (known := _CAPABILITY_SETS.get(caps)) is not None:
        return known
    if len(_CAPABILITY_SETS) >= 256:
        _CAPABILITY_SETS.clear()
    _CAPABILITY_SETS[caps] = caps
    return caps


def _b64_text(challenge: str) -> str:
    """A SASL error challenge as readable text (Google sends base64 JSON with status and scope)."""
    try:
        return base64.b64decode(challenge, validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return challenge


def _translate_connect_error(exc: BaseException, host: str, port: int) -> BaseException:
    """Map what can go wrong while connecting onto the documented tree (ImapErrors pass through)."""
    where = f"{host}:{port}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return TlsFailed(f"certificate of {where} not trusted: {exc.verify_message}")
    if isinstance(exc, ssl.SSLError):
        return TlsFailed(f"TLS handshake with {where} failed: {exc.reason or exc}")
    if isinstance(exc, TimeoutError):
        return ConnectionFailed(f"timed out connecting to {where}")
    if isinstance(exc, OSError):
        return ConnectionFailed(
            socket_text(exc.errno, where, f"cannot connect to {where}: {exc.strerror or exc}")
        )
    return exc

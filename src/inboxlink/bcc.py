"""The BCC / forward logging SMTP listener: aiosmtpd's protocol served by `loop.create_server`, so it
shares the event loop (and the database engine) with the API and the workers.

What each SMTP step decides, as early as the protocol allows:

* RCPT — only `TOKEN@$INBOXLINK_BCC_DOMAIN` of an existing user is accepted (token and domain
  case-insensitive); anything else is `550 5.1.1`. Nothing is ever relayed, so this is no open relay.
  A second, *different* logging address in the same transaction gets `452 4.5.3`: an MTA then sends
  the message again for that recipient alone, so each message is checked against one user.
* MAIL / DATA — bigger than `max_send_bytes` → `552` (aiosmtpd: SIZE at MAIL, the byte count at DATA).
* DATA — `services.mail.bcc_logging.log_bcc_message` decides and stores; `250` only after the commit, so
  an accepted message is never lost. Two From fields, a From with several addresses, or a From that
  is not the user's → `550 5.7.1` (read on the header block, before the body is parsed); an
  unexpected fault → `451` and the sending MTA retries (logging is idempotent). DKIM/SPF
  (`INBOXLINK_BCC_VERIFY`, from the peer's IP and HELO) mark the records, they refuse nothing.

Connections are counted exactly, in `connection_made` / `connection_lost`: at most `MAX_SESSIONS` at
once and `MAX_SESSIONS_PER_IP` from one address; more get `421` (MTAs retry). The logging address is a
credential: aiosmtpd's `mail.log` logger is held at WARNING (it logs every RCPT at INFO) and its
records, like this module's, pass through `_RedactAddresses`.

No TLS and no AUTH here: put it behind the MTA that receives the domain's mail (docs/bcc.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from inboxlink.domain.network import client_block
from inboxlink.services.mail.bcc_logging import BccRejected, bcc_user, log_bcc_message
from inboxlink.services.mail.sender_auth import SmtpOrigin, verification_scope
from inboxlink.services.platform.runtime import Runtime

__all__ = ["BccListener"]

log = logging.getLogger(__name__)

NO_SUCH_ADDRESS = "550 5.1.1 No such BCC logging address"
DRAIN_SECONDS = 5.0  # on stop, how long a message being logged may take to finish
SESSION_TIMEOUT = 120.0  # seconds of client silence before aiosmtpd drops the connection
MAX_SESSIONS = 100  # concurrent SMTP sessions; more get 421 (MTAs retry)
MAX_SESSIONS_PER_IP = 20  # from one address: one sender cannot take every session
TOO_MANY = b"421 4.7.0 Too many connections, try again later\r\n"
TOO_MANY_FROM_YOU = b"421 4.7.0 Too many connections from your address, try again later\r\n"
_TOKEN = re.compile(r"\b[0-9a-f]{24}\b", re.IGNORECASE)  # the shape of `users.new_bcc_token`


class _RedactAddresses(logging.Filter):
    """Masks logging addresses (and anything shaped like a token, e.g. in a database error) in a
    record, its arguments and its traceback, so that no log level can write a credential."""

    def __init__(self, domain: str) -> None:
        super().__init__()
        self.address = re.compile(r"[^\s<>\"'(),;:@]+@" + re.escape(domain), re.IGNORECASE)

    def redact(self, text: str) -> str:
        return _TOKEN.sub("[token]", self.address.sub("[bcc address]", text))

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = self.redact(record.getMessage()), None
        if record.exc_info:
            record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def _guard_logs(domain: str) -> None:
    """aiosmtpd logs each RCPT (the token) at INFO: keep its logger at WARNING, and redact whatever
    still gets through, there and in our own BCC loggers (also when someone turns them to DEBUG)."""
    aiosmtpd_log = logging.getLogger("mail.log")
    aiosmtpd_log.setLevel(logging.WARNING)
    for name in ("mail.log", __name__, "inboxlink.services.mail.bcc_logging"):
        logger = logging.getLogger(name)
        for old in [f for f in logger.filters if isinstance(f, _RedactAddresses)]:
            logger.removeFilter(old)
        logger.addFilter(_RedactAddresses(domain))


def _safe(text: str) -> str:
    """One printable ASCII line: reply text may quote an address the client sent us."""
    return "".join(c if c.isprintable() else "?" for c in text).encode("ascii", "replace").decode()


class _Handler:
    """aiosmtpd hooks. Keeps track of the sessions whose message is being logged right now."""

    def __init__(self, rt: Runtime, bind_host: str) -> None:
        self.rt = rt
        self.domain = rt.settings.bcc_domain.strip().lower()
        self.scope = verification_scope(rt.settings.bcc_verify, bind_host)
        self.busy: set[Session] = set()
        self.idle = asyncio.Event()  # set while no message is being logged
        self.idle.set()

    def _token(self, address: str) -> str | None:
        local, at, domain = address.strip().strip("<>").rpartition("@")
        if not at or domain.lower().rstrip(".") != self.domain or not local:
            return None
        return local.lower()

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        token = self._token(address)
        if token is None or await bcc_user(self.rt, token) is None:
            return NO_SUCH_ADDRESS
        accepted = {self._token(a) for a in envelope.rcpt_tos}
        if accepted and token not in accepted:
            return "452 4.5.3 One BCC logging address per message; send to this one separately"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content
        token = self._token(envelope.rcpt_tos[0]) if envelope.rcpt_tos else None
        if not isinstance(raw, bytes) or token is None:
            return "554 5.5.1 No valid recipients"
        self.busy.add(session)
        self.idle.clear()
        try:
            peer = session.peer if isinstance(session.peer, tuple) else ("", 0)
            origin = SmtpOrigin(envelope.mail_from or "", str(peer[0]), session.host_name or "", self.scope)
            result = await log_bcc_message(self.rt, token, raw, envelope.mail_from or "", origin=origin)
        except BccRejected as exc:
            if exc.code == "unknown_address":  # rotated between RCPT and DATA
                return NO_SUCH_ADDRESS
            return _safe(f"550 5.7.1 {exc}")
        except Exception:
            log.exception("BCC logging failed; the sending MTA will retry")
            return "451 4.3.0 The message could not be logged just now; try again later"
        finally:
            self.busy.discard(session)
            if not self.busy:
                self.idle.set()
        if result.email_ids:
            return f"250 2.0.0 Logged as {len(result.email_ids)} email(s)"
        return _safe(f"250 2.0.0 Accepted; {result.note}")

    async def handle_exception(self, error: Exception) -> str:
        # aiosmtpd's default answers "500 Error: (type) text": a database error's text (parameters
        # and all) would go to the client. Ours is logged (redacted) and the MTA retries.
        log.error("BCC listener: unexpected error", exc_info=error)
        return "451 4.3.0 Temporary failure; try again later"


class _Counter:
    """Open sessions, in total and per client address, counted when a connection is made and when it
    is lost (never by object lifetime: the collector frees a closed session whenever it runs)."""

    def __init__(self) -> None:
        self.total = 0
        self.per_ip: dict[str, int] = {}
        self.made = 0  # connections ever made, admitted or not

    def admit(self, ip: str) -> bytes | None:
        """None when the connection may go on (and is now counted), else the 421 to answer."""
        self.made += 1
        if self.total >= MAX_SESSIONS:
            return TOO_MANY
        if self.per_ip.get(ip, 0) >= MAX_SESSIONS_PER_IP:
            return TOO_MANY_FROM_YOU
        self.total += 1
        self.per_ip[ip] = self.per_ip.get(ip, 0) + 1
        return None

    def release(self, ip: str) -> None:
        self.total -= 1
        left = self.per_ip[ip] - 1
        if left:
            self.per_ip[ip] = left
        else:
            del self.per_ip[ip]


class _Session(SMTP):
    """aiosmtpd's protocol behind the connection limits: over a limit, it answers 421 and hangs up
    before aiosmtpd starts serving."""

    def __init__(self, listener: BccListener, **kwargs: Any) -> None:
        super().__init__(listener._handler, **kwargs)
        self._listener = listener
        self._counted_ip: str | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self._counted_ip is None:
            peer = transport.get_extra_info("peername")
            ip = client_block(str(peer[0])) if isinstance(peer, tuple) else "?"
            refusal = self._listener.counter.admit(ip)
            if refusal is not None:
                assert isinstance(transport, asyncio.WriteTransport)
                transport.write(refusal)
                transport.close()
                return
            self._counted_ip = ip
            self._listener.sessions.add(self)
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        if self._counted_ip is None:
            return  # refused above: aiosmtpd never started on it
        self._listener.counter.release(self._counted_ip)
        self._listener.sessions.discard(self)
        self._counted_ip = None
        super().connection_lost(error)


class BccListener:
    """`await start()` binds (port 0 → a free port, then in `port`); `stop()` stops accepting.
    `run()` is start + serve until `stop()` + let in-flight messages finish, for the runner."""

    def __init__(self, rt: Runtime, address: tuple[str, int] | None = None) -> None:
        address = address or rt.settings.bcc_smtp
        if address is None:
            raise ValueError("the BCC listener is off (INBOXLINK_BCC_SMTP=off)")
        self.rt = rt
        self.host, self.port = address
        self._handler = _Handler(rt, self.host)
        self._server: asyncio.Server | None = None
        # Unauthenticated and reachable by any MTA: a flood of idle connections must not take the
        # process's file descriptors (and with them the web UI and API).
        self.counter = _Counter()
        self.sessions: set[_Session] = set()  # the open (counted) ones, for stop()
        self._stopped = asyncio.Event()
        _guard_logs(rt.settings.bcc_domain.strip().lower())

    @property
    def open_sessions(self) -> int:
        return self.counter.total

    def _protocol(self) -> asyncio.Protocol:
        return _Session(
            self,
            data_size_limit=self.rt.settings.max_send_bytes,
            enable_SMTPUTF8=True,
            hostname=self.rt.settings.bcc_domain,  # else aiosmtpd calls getfqdn(), slow without DNS
            ident="inboxlink BCC logging",
            timeout=SESSION_TIMEOUT,
            loop=asyncio.get_running_loop(),
        )

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._protocol, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("BCC logging listener on %s:%d for *@%s", self.host, self.port, self.rt.settings.bcc_domain)

    def stop(self) -> None:
        """Stop accepting; idle sessions are closed now, sessions logging a message when it is done."""
        self._stopped.set()
        if self._server is not None:
            self._server.close()
        self._close_sessions(idle_only=True)

    async def run(self) -> None:
        await self.start()
        await self._stopped.wait()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._handler.idle.wait(), DRAIN_SECONDS)
        self._close_sessions(idle_only=False)

    def _close_sessions(self, *, idle_only: bool) -> None:
        for smtp in list(self.sessions):
            if idle_only and smtp.session in self._handler.busy:
                continue
            if smtp.transport is not None:
                smtp.transport.close()

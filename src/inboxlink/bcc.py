"""The BCC / forward logging SMTP listener: aiosmtpd's protocol served by `loop.create_server`, so it
shares the event loop (and the database engine) with the API and the workers.

What each SMTP step decides, as early as the protocol allows:

* RCPT — only `TOKEN@$INBOXLINK_BCC_DOMAIN` of an existing user is accepted (token and domain
  case-insensitive); anything else is `550 5.1.1`. Nothing is ever relayed, so this is no open relay.
  A second, *different* logging address in the same transaction gets `452 4.5.3`: an MTA then sends
  the message again for that recipient alone, so each message is checked against one user.
* MAIL / DATA — bigger than `max_send_bytes` → `552` (aiosmtpd: SIZE at MAIL, the byte count at DATA).
* DATA — `services.mail.bcc_logging.log_bcc_message` decides and stores; `250` only after the commit, so
  an accepted message is never lost. A From that is not the user's → `550 5.7.1`; an unexpected fault
  → `451` and the sending MTA retries (logging is idempotent).

No TLS and no AUTH here: put it behind the MTA that receives the domain's mail (docs/bcc.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref

from aiosmtpd.smtp import SMTP, Envelope, Session

from inboxlink.services.mail.bcc_logging import BccRejected, bcc_user, log_bcc_message
from inboxlink.services.platform.runtime import Runtime

__all__ = ["BccListener"]

log = logging.getLogger(__name__)

NO_SUCH_ADDRESS = "550 5.1.1 No such BCC logging address"
DRAIN_SECONDS = 5.0  # on stop, how long a message being logged may take to finish
SESSION_TIMEOUT = 120.0  # seconds of client silence before aiosmtpd drops the connection
MAX_SESSIONS = 100  # concurrent SMTP sessions; more get 421 (MTAs retry)


def _safe(text: str) -> str:
    """One printable ASCII line: reply text may quote an address the client sent us."""
    return "".join(c if c.isprintable() else "?" for c in text).encode("ascii", "replace").decode()


class _Handler:
    """aiosmtpd hooks. Keeps track of the sessions whose message is being logged right now."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.domain = rt.settings.bcc_domain.strip().lower()
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
            result = await log_bcc_message(self.rt, token, raw, envelope.mail_from or "")
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


class _Busy(asyncio.Protocol):
    """Answers 421 and hangs up: the sending MTA retries later."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        transport.write(b"421 4.7.0 Too many connections, try again later\r\n")
        transport.close()


class BccListener:
    """`await start()` binds (port 0 → a free port, then in `port`); `stop()` stops accepting.
    `run()` is start + serve until `stop()` + let in-flight messages finish, for the runner."""

    def __init__(self, rt: Runtime, address: tuple[str, int] | None = None) -> None:
        address = address or rt.settings.bcc_smtp
        if address is None:
            raise ValueError("the BCC listener is off (INBOXLINK_BCC_SMTP=off)")
        self.rt = rt
        self.host, self.port = address
        self._handler = _Handler(rt)
        self._server: asyncio.Server | None = None
        self._sessions: weakref.WeakSet[SMTP] = weakref.WeakSet()
        self._stopped = asyncio.Event()

    def _protocol(self) -> asyncio.Protocol:
        if len(self._sessions) >= MAX_SESSIONS:
            # Unauthenticated and reachable by any MTA: a flood of idle connections must not take
            # the process's file descriptors (and with them the web UI and API).
            return _Busy()
        smtp = SMTP(
            self._handler,
            data_size_limit=self.rt.settings.max_send_bytes,
            enable_SMTPUTF8=True,
            hostname=self.rt.settings.bcc_domain,  # else aiosmtpd calls getfqdn(), slow without DNS
            ident="inboxlink BCC logging",
            timeout=SESSION_TIMEOUT,
            loop=asyncio.get_running_loop(),
        )
        self._sessions.add(smtp)
        return smtp

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
        for smtp in list(self._sessions):
            if idle_only and smtp.session in self._handler.busy:
                continue
            if smtp.transport is not None:
                smtp.transport.close()

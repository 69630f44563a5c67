"""The byte stream under `ImapClient`: tags, the command/response exchange, IDLE, timeouts.

It reads whatever the socket has (large reads keep a 100k-message header scan near raw-socket
speed), feeds it to the pure `ResponseReader`, and writes what `encode_command` produced. Every
read and write is bounded by `timeout` seconds of inactivity. One exchange runs at a time (a lock).
An exchange interrupted half-way (timeout, cancellation, protocol error, BYE) leaves the stream in
an unknown state, so the connection is marked broken and every later call raises ConnectionFailed.
"""

from __future__ import annotations

import asyncio
import asyncio.sslproto
import logging
import ssl
from collections import Counter
from collections.abc import Callable

from .commands import Arg, encode_command
from .errors import CommandFailed, ConnectionFailed, NotImapServer, ProtocolError, ServerBye
from .protocol import Continuation, Exists, Fetch, MailboxStatus, Response, ResponseReader, StatusResponse

__all__ = ["Connection", "untagged_text"]

log = logging.getLogger("inboxlink.imap")

# Commands sent by this process, by name ("UID FETCH"): plain counters, read by the metrics
# (services.platform.metrics) at scrape time, so this room needs no metrics library.
COMMANDS: Counter[str] = Counter()

_READ_SIZE = 1 << 18
STREAM_LIMIT = 1 << 22  # asyncio's buffer limit for the connection (pauses reading beyond 2x)
# asyncio's TLS layer (sslproto) reads the socket into a buffer of its own, allocated when the
# connection is made and kept for its whole life: 256 KiB by default, most of an idle session's
# memory (bench/idle_memory.py). One TLS record (16 KiB + overhead) is all one decrypt step needs,
# and a 100k-header scan loses nothing measurable by reading one record per recv. Growing it per
# busy connection and shrinking it for IDLE was tried: the freed 256 KiB blocks stay in the heap
# (fragmentation), ~20 KiB per inbox worse than never growing. Set on the class because the buffer
# is allocated before any code of ours sees the protocol; aiosmtplib's connections get it too.
TLS_READ_BUFFER = 16 * 1024 + 512
asyncio.sslproto.SSLProtocol.max_size = TLS_READ_BUFFER


def untagged_text(resp: Response) -> str:
    """An untagged response as one line without the leading "* " (what idle()/noop() return)."""
    raw = resp.raw.decode("utf-8", "replace")
    return raw[2:] if raw.startswith("* ") else raw


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, timeout: float) -> None:
        self._reader = reader
        self._writer = writer
        self.timeout = timeout
        self._parser = ResponseReader()
        self._lock = asyncio.Lock()
        self._tag_counter = 0
        self.broken: str | None = None
        self.nonsync_limit = 0  # largest literal sent without waiting for "+" (LITERAL+/-)
        self.pending_exists = False

    async def command(
        self,
        args: list[Arg],
        *,
        solicited_exists: bool = False,
        bye_ok: bool = False,
        extra: list[bytes] | None = None,
        on_challenge: Callable[[Continuation], bytes] | None = None,
        on_fetch: Callable[[Fetch], None] | None = None,
    ) -> tuple[list[Response], StatusResponse]:
        """Run one command to its tagged response → (untagged responses, tagged response).
        `extra` chunks are sent one per continuation request after the command's own literals;
        `on_challenge` answers any further continuation (SASL); `on_fetch` takes FETCH responses
        as they arrive instead of the untagged list (so each can be freed at once)."""
        async with self._lock:
            self._check_usable()
            tag = self._next_tag()
            chunks = encode_command(tag, *args, nonsync_limit=self.nonsync_limit) + (extra or [])
            name = args[0] if isinstance(args[0], str) else "?"
            COMMANDS[f"UID {args[1]}" if name == "UID" and isinstance(args[1], str) else name] += 1
            log.debug("C: %s %s", tag, name)  # never the arguments: they may hold a password
            try:
                untagged, tagged = await self._exchange(
                    tag, chunks, solicited_exists, bye_ok, on_challenge, on_fetch
                )
            except BaseException as exc:
                self.broken = f"interrupted during {name}: {exc!r}"
                raise
        log.debug("S: %s %s %s", tag, tagged.status, tagged.code or "")
        return untagged, tagged

    async def _exchange(
        self,
        tag: str,
        chunks: list[bytes],
        solicited_exists: bool,
        bye_ok: bool,
        on_challenge: Callable[[Continuation], bytes] | None,
        on_fetch: Callable[[Fetch], None] | None,
    ) -> tuple[list[Response], StatusResponse]:
        self._parser.literal_bytes = 0
        await self._send(chunks[0])
        rest = chunks[1:]
        untagged: list[Response] = []
        keep_fetch = on_fetch or untagged.append
        parser = self._parser
        while True:
            resp = parser.next_response()
            if resp is None:
                await self._fill(self.timeout)
            elif type(resp) is Fetch:  # the hot path of a 100k-message scan: nothing to note
                keep_fetch(resp)
            elif type(resp) is StatusResponse and resp.tag is not None:
                if resp.tag != tag:
                    raise ProtocolError(f"a tagged response for another command while waiting for {tag}")
                return untagged, resp
            elif type(resp) is Continuation:
                if rest:
                    await self._send(rest.pop(0))
                elif on_challenge is not None:
                    await self._send(on_challenge(resp))
                else:
                    raise ProtocolError("unexpected continuation request", server_text=resp.text)
            else:
                if not (bye_ok and type(resp) is StatusResponse):
                    self._note(resp, solicited_exists)
                untagged.append(resp)

    async def idle(self, timeout: float) -> list[str]:
        """IDLE until the server pushes something or `timeout` passes; always DONE + tagged OK."""
        async with self._lock:
            self._check_usable()
            tag = self._next_tag()
            try:
                return await self._idle(tag, timeout)
            except CommandFailed:
                raise  # the tagged answer was read: the stream is still in step
            except BaseException as exc:
                self.broken = f"interrupted during IDLE: {exc!r}"
                raise

    async def _idle(self, tag: str, timeout: float) -> list[str]:
        self._parser.literal_bytes = 0
        await self._send(f"{tag} IDLE\r\n".encode("ascii"))
        lines: list[str] = []
        while not isinstance(resp := await self.next_response(), Continuation):
            if isinstance(resp, StatusResponse) and resp.tag == tag:
                raise CommandFailed("IDLE refused", server_text=resp.text, code=resp.code)
            lines.append(self._note(resp, False))
        try:
            async with asyncio.timeout(None if lines else timeout):
                while not lines:
                    resp = await self.next_response(read_timeout=None)
                    line = self._note(resp, False)
                    if not (isinstance(resp, StatusResponse) and resp.code is None):  # "Still here"
                        lines.append(line)
        except TimeoutError:
            pass  # cancelling a pending read loses nothing: StreamReader keeps unread bytes
        while (more := self._parser.next_response()) is not None:  # what came in the same read
            lines.append(self._note(more, False))
        await self._send(b"DONE\r\n")
        while not (isinstance(resp := await self.next_response(), StatusResponse) and resp.tag == tag):
            lines.append(self._note(resp, False))
        if resp.status != "OK":
            raise CommandFailed("IDLE failed", server_text=resp.text, code=resp.code)
        return lines

    def _note(self, resp: Response, solicited_exists: bool) -> str:
        """Record what an untagged response means for the session; return it as text."""
        if type(resp) is Exists and not solicited_exists:
            self.pending_exists = True
        elif type(resp) is MailboxStatus:  # NOTIFY's news of another mailbox (we never ask STATUS)
            self.pending_exists = True
        elif type(resp) is StatusResponse and resp.status == "BYE":
            raise ServerBye("the server closed the session", server_text=resp.text)
        return untagged_text(resp)

    async def greeting(self) -> Response:
        """The server's first response. Bytes that cannot begin an IMAP greeting fail at once with
        NotImapServer, and so does anything that does not parse: never a quote of what came."""
        try:
            while (resp := self._parser.next_response()) is None:
                if not self._parser.could_be_greeting():
                    raise NotImapServer("the server did not greet like an IMAP server")
                await self._fill(self.timeout)
        except NotImapServer:
            raise
        except ProtocolError as exc:
            raise NotImapServer("the server did not greet like an IMAP server") from exc
        return resp

    async def next_response(self, read_timeout: float | None = -1.0) -> Response:
        timeout = self.timeout if read_timeout == -1.0 else read_timeout
        while (resp := self._parser.next_response()) is None:
            await self._fill(timeout)
        return resp

    async def start_tls(self, context: ssl.SSLContext, host: str) -> None:
        if self._parser.buffered:  # plaintext sent before the handshake must not count after it
            raise ProtocolError("unexpected data after the STARTTLS response (injection attempt?)")
        await self._writer.start_tls(context, server_hostname=host)

    async def _fill(self, timeout: float | None) -> None:
        try:
            async with asyncio.timeout(timeout):
                data = await self._reader.read(_READ_SIZE)
        except TimeoutError:
            raise ConnectionFailed(f"no answer from the server within {timeout:g} s") from None
        except OSError as exc:
            raise ConnectionFailed(f"connection lost: {exc}") from exc
        if not data:
            raise ConnectionFailed("the server closed the connection")
        self._parser.feed(data)

    async def _send(self, data: bytes) -> None:
        try:
            self._writer.write(data)
            async with asyncio.timeout(self.timeout):
                await self._writer.drain()
        except TimeoutError:
            raise ConnectionFailed(f"could not send within {self.timeout:g} s") from None
        except OSError as exc:
            raise ConnectionFailed(f"connection lost: {exc}") from exc

    def _next_tag(self) -> str:
        self._tag_counter += 1
        return f"A{self._tag_counter:04d}"

    def _check_usable(self) -> None:
        if self.broken is not None:
            raise ConnectionFailed(f"connection no longer usable ({self.broken})")

    async def close(self) -> None:
        interrupted = self.broken is not None
        self.broken = self.broken or "closed"
        if interrupted:
            # Out of step (a command or an IDLE was cut off): no orderly end is owed, and a server
            # still in IDLE may never answer TLS's close_notify (Cyrus 3.6 reads only for DONE),
            # which would hold this close for the whole timeout. Drop the connection instead.
            self._writer.transport.abort()
            return
        try:
            self._writer.close()
            async with asyncio.timeout(5.0):
                await self._writer.wait_closed()
        except Exception as exc:  # closing is best effort: the peer may already be gone
            log.debug("IMAP close: %r", exc)

"""The BCC listener's connection limits (issue 9, finding 4), over real sockets: sessions are counted
when a connection is made and when it is lost, so closed connections never lock the listener out,
and one address cannot take every session.

The old count was the length of a WeakSet of sessions, which shrank only when the garbage collector
happened to free them (100 connect-and-close → 421 for every client for ~35 s). The collector is
switched off while these tests run, so a count that depends on it shows at once."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import smtplib
import socket
from collections.abc import Iterator

from tests.integration.test_bcc import CLIENT, bcc_address, emails_of, listening, message, plain_app, send
from tests.support.app import wait_for

__all__ = ["plain_app"]  # the fixture, shared with test_bcc

USER = "seller@crm.test"


@contextlib.contextmanager
def collector_off() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _connect_and_close(port: int, count: int) -> None:
    """What a port scanner or an impatient client does: connect, hang up, no SMTP at all."""
    for _ in range(count):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


def _quick_sessions(port: int, count: int) -> list[int]:
    """A legitimate burst: one short SMTP session after another (greeting, EHLO, QUIT)."""
    codes = []
    for _ in range(count):
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            codes.append(client.ehlo()[0])
    return codes


async def test_closed_connections_do_not_lock_the_listener_out(plain_app):
    user = await plain_app.user(USER)
    async with listening(plain_app.rt) as listener:
        with collector_off():
            await asyncio.to_thread(_connect_and_close, listener.port, 100)
            # Once the listener has taken all of them from the kernel's queue (some may have had a 421:
            # more than 20 at once from one address) and seen them hang up, the count is exactly zero.
            await wait_for(
                lambda: _is(listener.counter.made == 100 and listener.open_sessions == 0),
                timeout=10,
                interval=0.01,
            )
            assert await asyncio.to_thread(_quick_sessions, listener.port, 100) == [250] * 100
            await send(listener, USER, [bcc_address(user)], message(USER, CLIENT, "Right after", "Hi"))
        assert [e["subject"] for e in await emails_of(user, CLIENT)] == ["Right after"]
        await wait_for(lambda: _is(listener.open_sessions == 0), timeout=10, interval=0.01)


async def test_one_address_cannot_take_every_session(plain_app):
    import inboxlink.bcc

    per_ip = inboxlink.bcc.MAX_SESSIONS_PER_IP
    async with listening(plain_app.rt) as listener:
        held = []
        for _ in range(per_ip):
            reader, writer = await asyncio.open_connection("127.0.0.1", listener.port)
            assert (await reader.readline()).startswith(b"220")
            held.append(writer)
        # One more from the same address: 421, and the connection is closed.
        reader, writer = await asyncio.open_connection("127.0.0.1", listener.port)
        assert (
            await reader.readline()
            == b"421 4.7.0 Too many connections from your address, try again later\r\n"
        )
        assert await reader.read() == b""
        writer.close()
        # Another address (all of 127.0.0.0/8 is loopback on Linux) still gets in.
        reader, other = await asyncio.open_connection("127.0.0.1", listener.port, local_addr=("127.0.0.2", 0))
        assert (await reader.readline()).startswith(b"220")
        assert listener.open_sessions == per_ip + 1
        # When one of the first address's sessions ends, that address may connect again.
        held.pop().close()
        await wait_for(lambda: _is(listener.open_sessions == per_ip), timeout=10, interval=0.01)
        reader, writer = await asyncio.open_connection("127.0.0.1", listener.port)
        assert (await reader.readline()).startswith(b"220")
        for w in (*held, other, writer):
            w.close()
        await wait_for(lambda: _is(listener.open_sessions == 0), timeout=10, interval=0.01)


async def _is(value: bool) -> bool:
    return value

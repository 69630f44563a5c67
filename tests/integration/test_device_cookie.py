"""Sign-in throttling with device cookies: wrong passwords from elsewhere do not lock the owner's
known browser out, while guesses without the cookie (or with a forged one) stay throttled."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx

from inboxlink.api.app import create_app
from inboxlink.web.security import DEVICE_COOKIE
from tests.support import app as support_app

PASSWORD = "correct horse battery"


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


class Browser:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def sign_in(self, email: str, password: str) -> httpx.Response:
        page = await self.client.get("/login")
        return await self.client.post(
            "/login", data={"email": email, "password": password, "csrf_token": _csrf(page.text)}
        )

    async def sign_out(self) -> None:
        page = await self.client.get("/contacts")
        assert (await self.client.post("/logout", data={"csrf_token": _csrf(page.text)})).status_code == 303


@asynccontextmanager
async def browsers(app: support_app.TestApp) -> AsyncIterator[Callable[[str], Browser]]:
    """`open(ip)` → a browser (its own cookie jar) reaching one app from that client address."""
    asgi = create_app(app.rt)  # one app, so one throttle, for every browser below
    clients: list[httpx.AsyncClient] = []

    def open_browser(ip: str) -> Browser:
        transport = httpx.ASGITransport(app=asgi, client=(ip, 40000))
        client = httpx.AsyncClient(transport=transport, base_url="http://inboxlink.test")
        clients.append(client)
        return Browser(client)

    try:
        yield open_browser
    finally:
        for client in clients:
            await client.aclose()


async def test_guesses_from_elsewhere_do_not_lock_out_the_owners_browser(app: support_app.TestApp) -> None:
    await app.user("owner@acme.test")
    await app.user("other@acme.test")
    async with browsers(app) as open_browser:
        owner = open_browser("198.51.100.7")
        resp = await owner.sign_in("owner@acme.test", PASSWORD)
        assert resp.status_code == 303
        assert DEVICE_COOKIE in owner.client.cookies
        await owner.sign_out()

        # 20 wrong passwords from 20 addresses: the account is locked for unknown browsers...
        for i in range(20):
            guess = await open_browser(f"203.0.113.{i + 1}").sign_in("owner@acme.test", f"guess {i}")
            assert guess.status_code == 401
        attacker = open_browser("203.0.113.99")
        resp = await attacker.sign_in("owner@acme.test", PASSWORD)  # even the right password
        assert resp.status_code == 429 and "Too many attempts" in resp.text

        # ...but the owner's browser, with its device cookie, signs in at once.
        resp = await owner.sign_in("owner@acme.test", PASSWORD)
        assert resp.status_code == 303, resp.text
        assert (await owner.client.get("/contacts")).status_code == 200

        # A forged device cookie, or one issued for another account, gives nothing.
        value = owner.client.cookies[DEVICE_COOKIE]
        forger = open_browser("203.0.113.100")
        forger.client.cookies.set(
            DEVICE_COOKIE, value[:-4] + ("AAAA" if not value.endswith("AAAA") else "BBBB")
        )
        assert (await forger.sign_in("owner@acme.test", PASSWORD)).status_code == 429
        other = open_browser("203.0.113.101")
        assert (await other.sign_in("other@acme.test", PASSWORD)).status_code == 303
        foreign = open_browser("203.0.113.102")
        foreign.client.cookies.set(DEVICE_COOKIE, other.client.cookies[DEVICE_COOKIE])
        assert (await foreign.sign_in("owner@acme.test", PASSWORD)).status_code == 429


async def test_a_known_browser_is_still_throttled_on_its_own(app: support_app.TestApp) -> None:
    await app.user("owner2@acme.test")
    async with browsers(app) as open_browser:
        owner = open_browser("198.51.100.8")
        assert (await owner.sign_in("owner2@acme.test", PASSWORD)).status_code == 303
        await owner.sign_out()
        # Someone at the owner's unlocked computer guessing a changed password: 5 tries, then locked.
        for _ in range(5):
            assert (await owner.sign_in("owner2@acme.test", "guess")).status_code == 401
        assert (await owner.sign_in("owner2@acme.test", PASSWORD)).status_code == 429
        # That lock is the cookie's alone: a browser without one from another address still may try.
        assert (await open_browser("198.51.100.9").sign_in("owner2@acme.test", PASSWORD)).status_code == 303


async def test_cookies_and_tokens_that_are_not_ascii_are_refused_not_a_500(app: support_app.TestApp) -> None:
    await app.user("ascii@acme.test")
    async with browsers(app) as open_browser:
        browser = open_browser("203.0.113.9")
        odd = f"{DEVICE_COOKIE}=abc.\u00e9; il_session=abc.\u00e9".encode("latin-1")
        page = await browser.client.get("/login", headers={b"cookie": odd})
        assert page.status_code == 200  # cookies that are not ours: simply signed out
        guess = await browser.client.post(
            "/login",
            headers={b"cookie": odd},
            data={"email": "ascii@acme.test", "password": "wrong password", "csrf_token": "\u00e9"},
        )
        assert guess.status_code == 403  # a CSRF token that is not ours is refused, not a 500
        # The same browser still signs in normally afterwards.
        assert (await browser.sign_in("ascii@acme.test", PASSWORD)).status_code == 303

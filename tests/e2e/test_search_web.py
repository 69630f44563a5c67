"""Find anything (issue 14 item 3), in the browser at desktop width and at 375 px: a reply delivered
to the Dovecot INBOX and logged by the running app is found while typing by a word of its body —
accents and case aside, the last word unfinished — with the words around it shown, and is not
found by a word it does not contain; the results page without JavaScript says the same."""

from __future__ import annotations

import secrets
from typing import Any

import pytest
from playwright.sync_api import expect

from inboxlink.services.crm.search import search_emails
from tests.e2e.browser import Tab, screenshot
from tests.e2e.helpers import CLIENT, live_conversation, new_login, sign_in, wait_until
from tests.e2e.live_server import LiveServer
from tests.e2e.test_day_web import PHONE, serious_axe
from tests.support.replies import make_reply

pytestmark = pytest.mark.browser


def test_search_finds_a_reply_by_a_word_of_its_body_and_not_by_one_it_lacks(
    browser: Any, tab: Tab, live: LiveServer, mail_server: Any, provider_smtp: Any, mail_user: Any
) -> None:
    assert live.app is not None
    app = live.app
    login = new_login("sid")
    caller, _inbox, contact, _sent, message_id = live_conversation(
        live, login, mail_server, provider_smtp, mail_user
    )
    # A word no other test's mail has (the mailbox is shared by the module's tests).
    marker = "łódź" + secrets.token_hex(4)
    absent = "brak" + secrets.token_hex(4)
    _, raw = make_reply(
        sender=f"Chris Client <{CLIENT}>",
        to=mail_user.email,
        subject="Re: Our offer",
        text=f"Die Größe passt. Zamówienie {marker} potwierdzone, élève.\n\nOn Tue, Sam wrote:\n> Hi Chris\n",
        in_reply_to=message_id,
        references=[message_id],
    )
    mail_server.deliver(mail_user.email, raw)
    # Logged by the running app (its monitor saw the delivery).
    wait_until(lambda: live.call(search_emails(app.rt, caller.team_id, marker)), timeout=30)

    phone_context = browser.new_context(base_url=live.base_url, viewport=PHONE)
    phone_context.set_default_timeout(15_000)
    try:
        phone = phone_context.new_page()
        sign_in(tab, login)
        sign_in(Tab(phone), login)
        typed = f"ZAMOWIENIE {marker.upper().replace('Ł', 'L').replace('Ó', 'O').replace('Ź', 'Z')[:-2]}"
        for page, name in ((tab.page, "search-typing"), (phone, "search-typing-phone")):
            expect(page.get_by_role("heading", name="Contacts", exact=True)).to_be_visible()
            box = page.get_by_label("Global search")
            box.press_sequentially(typed, delay=20)  # answers while typing; the last word unfinished
            results = page.locator("#global-results")
            hit = results.locator("li", has=page.get_by_role("link", name="Re: Our offer"))
            expect(hit).to_have_count(1)
            expect(hit.locator(".hit-snippet")).to_contain_text(f"Zamówienie {marker} potwierdzone")
            # Readable where it opens (the sidebar is 15 rem wide): the snippet is shown in lines, not
            # squeezed into a column of a few letters.
            expect(hit.locator(".hit-snippet")).to_be_visible()
            shown = hit.locator(".hit-snippet").bounding_box()
            assert shown is not None and shown["width"] >= 240 and shown["height"] <= 80, shown
            screenshot(page, name, full_page=False)
            assert serious_axe(page) == []
            # A word the reply does not contain: nothing, said in words.
            box.fill(f"zamowienie {absent}")
            expect(results).to_contain_text("Nothing matches.")
            expect(results.get_by_role("link", name="Re: Our offer")).to_have_count(0)
            assert serious_axe(page) == []
            # Enter opens the results page (the same answer without JavaScript), accents typed.
            box.fill(f"größe {marker}")
            box.press("Enter")
            expect(page.get_by_role("heading", level=1)).to_contain_text("Search")
            listed = page.locator(".search-results li", has=page.get_by_role("link", name="Re: Our offer"))
            expect(listed).to_have_count(1)
            expect(listed.locator(".hit-snippet")).to_contain_text(marker)
            assert serious_axe(page) == []
            # The hit opens the contact's record at the email.
            listed.get_by_role("link", name="Re: Our offer").click()
            expect(page).to_have_url(
                f"{live.base_url}/contacts/{contact['id']}#email-{_hit_id(live, caller, marker)}"
            )
            expect(page.get_by_role("heading", name="Chris Client", level=1)).to_be_visible()
            page.goto("/contacts")
        tab.page.goto(f"/search?q={absent}")
        expect(tab.page.locator(".search-results")).to_contain_text("Nothing matches.")
        assert serious_axe(tab.page) == []
    finally:
        phone_context.close()


def _hit_id(live: LiveServer, caller: Any, word: str) -> int:
    assert live.app is not None
    [hit] = live.call(search_emails(live.app.rt, caller.team_id, word))
    return int(hit["id"])

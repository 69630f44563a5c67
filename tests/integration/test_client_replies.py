"""Replies as real mail clients write them (byte fixtures in tests/fixtures/replies), delivered to
the suite's Dovecot and logged by the monitor."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.flows import inbound
from tests.support.replies import fixture

FIXTURES = Path(__file__).parent.parent / "fixtures" / "replies"

CASES = {
    # fixture: (sender address, decoded display name, a phrase of the text, attachment names)
    "gmail.eml": ("bob.novak@gmail.com", "Bob Novak", "", []),
    "outlook.eml": ("zdenek.hosek@firma.cz", "Zdeněk Hošek", "", []),
    "apple_mail.eml": ("juergen.weiss@example.de", "Jürgen Weiß", "", ["übersicht Q3.pdf"]),
    "thunderbird.eml": ("carla.rossi@example.org", "Carla Rossi", "", []),
    "phone.eml": ("marek.k@example.net", "Marek K.", "", []),
    "html_only.eml": ("dana@newsletter.example", "Dana Smith", "", []),
}


@pytest.mark.parametrize("name", sorted(CASES))
async def test_real_client_reply_is_logged(conversation, mail_server, mail_user, name):
    user, _inbox, sent = conversation
    address, display, _phrase, files = CASES[name]
    raw = fixture((FIXTURES / name).read_bytes(), sent["message_id"])
    mail_server.deliver(mail_user.email, raw)
    [reply] = await inbound(user, sent["contact_ids"][0])
    assert reply["from"] == {"email": address, "name": display}
    assert reply["thread_id"] == sent["thread_id"]
    assert reply["text"].strip(), "a readable text is always there (derived from HTML when needed)"
    assert [a["filename"] for a in reply["attachments"]] == files
    # The sender has a contact of their own with the reply on it.
    contact = (await user.get("/api/v1/contacts", params={"email": address})).json()["items"][0]
    assert reply["id"] in [
        e["id"] for e in (await user.get(f"/api/v1/contacts/{contact['id']}/emails")).json()["items"]
    ]
    if name == "apple_mail.eml":
        data = (await user.get(f"/api/v1/attachments/{reply['attachments'][0]['id']}")).content
        assert data == (FIXTURES / "apple_mail_attachment.pdf").read_bytes()
    if name == "outlook.eml":
        assert reply["subject"].startswith("RE: Nabídka")
        assert "lukasz.wojcik@firma.pl" in [c["email"] for c in reply["cc"]]
    if name == "html_only.eml":
        html = reply["html"]
        for bad in ("<script", "onerror", "onclick", "javascript:", ' src="https://tracker'):
            assert bad not in html
        assert "See the offer" in reply["text"]

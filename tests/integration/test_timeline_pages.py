"""A contact's timeline comes in pages (issue 9: one contact's page of everything weighed 60 MB):
the API's `limit`/`before` cursor reaches every email, the web record shows one page with an
"Older emails" link, and attachments page the same way."""

from __future__ import annotations

import base64
import re
from typing import TYPE_CHECKING, Any

from tests.support.app import running_app
from tests.support.flows import connect
from tests.support.web import sign_in

if TYPE_CHECKING:  # imported by name, pytest would try to collect them as test classes
    from tests.support.app import TestUser

CLIENT = "many@prospect.test"


async def queue_emails(user: TestUser, inbox_id: int, count: int, *, files: int = 0) -> list[int]:
    """`count` CRM emails to CLIENT (no send worker runs: they stay queued, on the record at once)."""
    ids = []
    for i in range(count):
        body: dict[str, Any] = {
            "inbox_id": inbox_id,
            "to": [{"email": CLIENT}],
            "subject": f"#{i}",
            "text": "x",
        }
        if i < files:
            data = base64.b64encode(f"file {i}".encode()).decode()
            body["attachments"] = [
                {"filename": f"f{i}.txt", "content_type": "text/plain", "content_base64": data}
            ]
        resp = await user.post("/api/v1/emails", body)
        assert resp.status_code == 202, resp.text
        ids.append(resp.json()["id"])
    return ids


async def test_every_email_is_reachable_page_by_page(
    tmp_path, trust_test_ca, mail_server, provider_smtp, mail_user
):
    async with running_app(tmp_path / "data", worker=False) as app:
        user, inbox = await connect(app, mail_server, provider_smtp, mail_user)
        sent = await queue_emails(user, inbox["id"], 60, files=3)
        contact_id = (await user.get("/api/v1/contacts", params={"email": CLIENT})).json()["items"][0]["id"]
        url = f"/api/v1/contacts/{contact_id}/emails"

        first = (await user.get(url)).json()  # the default page holds 50
        assert len(first["items"]) == 50 and first["next_cursor"]
        seen, cursor, sizes = [], None, []
        while True:
            params: dict[str, Any] = {"limit": 25, **({"before": cursor} if cursor else {})}
            page = (await user.get(url, params=params)).json()
            sizes.append(len(page["items"]))
            seen += [e["id"] for e in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert sizes == [25, 25, 10]
        assert seen == sorted(sent, reverse=True)  # newest first, each exactly once
        assert [e["id"] for e in first["items"]] == seen[:50]

        for bad in ({"limit": 0}, {"limit": 201}, {"before": "not-a-cursor"}, {"before": "WzEsMl0"}):
            resp = await user.get(url, params=bad)
            assert resp.status_code == 422 and resp.json()["error"]["code"], (bad, resp.text)
        assert (await user.get(url, params={"before": "x"})).json()["error"]["code"] == "invalid_cursor"

        files_url = f"/api/v1/contacts/{contact_id}/attachments"
        page = (await user.get(files_url, params={"limit": 2})).json()
        rest = (await user.get(files_url, params={"limit": 2, "before": page["next_cursor"]})).json()
        names = [f["filename"] for f in page["items"] + rest["items"]]
        assert names == ["f2.txt", "f1.txt", "f0.txt"] and rest["next_cursor"] is None

        # The web record: one page of 25 with a link to the older ones, until the oldest.
        await sign_in(app.client, "seller@crm.test")
        path, shown = f"/contacts/{contact_id}", []
        for expected in (25, 25, 10):
            html = (await app.client.get(path)).text
            on_page = [int(i) for i in re.findall(r'data-email-id="(\d+)"', html)]
            assert len(on_page) == expected
            shown += on_page
            older = re.search(r'href="([^"]+)" rel="next" data-older-emails', html)
            if expected == 10:
                assert older is None and "Newest emails" in html
            else:
                assert older is not None
                path = older.group(1).replace("&amp;", "&")
        assert sorted(shown) == sorted(sent)
        # The live fragment keeps the page being read.
        cursor_path = path.split("#")[0].replace(
            f"/contacts/{contact_id}", f"/contacts/{contact_id}/timeline"
        )
        fragment = (await app.client.get(cursor_path)).text
        assert len(re.findall(r'data-email-id="(\d+)"', fragment)) == 10

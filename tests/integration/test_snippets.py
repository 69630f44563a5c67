"""Snippets: shared by a team, one shortcut per team (409 on a duplicate), hidden from other teams."""

from __future__ import annotations


async def test_snippets_are_team_shared_with_unique_shortcuts(app):
    owner = await app.user("seller@crm.test")
    mate = await app.user("mate@crm.test")
    outsider = await app.user("other@rival.test", team="rival")
    made = await owner.post("/api/v1/snippets", {"shortcut": "#Pricing", "text": "Our prices start at 10 €."})
    assert made.status_code == 201, made.text
    snippet = made.json()
    assert (snippet["shortcut"], snippet["name"]) == ("pricing", "pricing")
    assert [s["text"] for s in (await mate.get("/api/v1/snippets")).json()["items"]] == [
        "Our prices start at 10 €."
    ]

    duplicate = await mate.post("/api/v1/snippets", {"shortcut": "pricing", "text": "other"})
    assert duplicate.status_code == 409 and duplicate.json()["error"]["code"] == "snippet_exists"
    other = (await mate.post("/api/v1/snippets", {"shortcut": "demo", "text": "Book a demo"})).json()
    clash = await mate.put(f"/api/v1/snippets/{other['id']}", {"shortcut": "pricing"})
    assert clash.status_code == 409
    # another team may use the same shortcut
    theirs = await outsider.post("/api/v1/snippets", {"shortcut": "pricing", "text": "Theirs"})
    assert theirs.status_code == 201

    url = f"/api/v1/snippets/{snippet['id']}"
    assert (await outsider.get(url)).status_code == 404
    assert (await outsider.put(url, {"text": "mine"})).status_code == 404
    assert (await outsider.delete(url)).status_code == 404
    assert [s["text"] for s in (await outsider.get("/api/v1/snippets")).json()["items"]] == ["Theirs"]

    changed = await mate.put(url, {"text": "Prices from 12 €.", "name": "Pricing"})
    assert changed.status_code == 200 and changed.json()["text"] == "Prices from 12 €."
    assert [s["shortcut"] for s in (await owner.get("/api/v1/snippets")).json()["items"]] == [
        "demo",
        "pricing",
    ]
    assert (await owner.delete(url)).status_code == 204
    assert (await mate.get(url)).status_code == 404


async def test_bad_snippets_get_clear_errors(app):
    user = await app.user("seller@crm.test")
    for body, code in [
        ({"shortcut": "has space", "text": "x"}, "invalid_shortcut"),
        ({"shortcut": "", "text": "x"}, "invalid_shortcut"),
        ({"shortcut": "x" * 41, "text": "x"}, "field_too_long"),
        ({"shortcut": "ok", "text": "   "}, "field_required"),
        ({"shortcut": "ok", "text": "x" * 20_001}, "field_too_long"),
    ]:
        resp = await user.post("/api/v1/snippets", body)
        assert resp.status_code == 422, (body, resp.text)
        assert resp.json()["error"]["code"] == code, resp.text
    assert (await user.get("/api/v1/snippets")).json()["items"] == []

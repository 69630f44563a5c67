"""Removing an earlier step of a sequence, with a contact enrolled, against the real Dovecot and
SMTP peers (the app's clock moved forward): whoever waits for a step still gets that step next,
from the edit page and from an API PUT that names the steps' positions; on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration import crm_backends
from tests.integration.test_sequences import (
    enrolment,
    jobs_running,  # noqa: F401 (a fixture, used by every test here)
    setup,
    step_sent,
)
from tests.support import app as support
from tests.support.forms import form_values
from tests.support.web import sign_in

app = crm_backends.app  # on SQLite and PostgreSQL: the edit rewrites positions under unique keys
pytestmark = pytest.mark.usefixtures("jobs_running")

THREE = [
    {"subject": "Step A", "text": "A: our offer.", "delay_days": 0},
    {"subject": "Step B", "text": "B: following up.", "delay_days": 2},
    {"subject": "Step C", "text": "C: closing the loop.", "delay_days": 3},
]


async def _after_two_steps(app: support.TestApp, mail_server: Any, provider_smtp: Any, mail_user: Any) -> Any:
    """Steps A, B, C; A and B sent; the contact waits for C (next_step 2)."""
    user, _inbox, contact, sequence, enrolled = await setup(app, mail_server, provider_smtp, mail_user)
    keep = {k: sequence[k] for k in ("name", "time_zone", "window_start", "window_end")}
    put = await user.put(f"/api/v1/sequences/{sequence['id']}", {**keep, "steps": THREE})
    assert put.status_code == 200, put.text
    await step_sent(app, user, enrolled, contact["id"], 1)
    current, _ = await step_sent(app, user, enrolled, contact["id"], 2)
    assert current["next_step"] == 2 and current["status"] == "active"
    return user, contact, sequence, enrolled, keep, current


async def test_removing_an_earlier_step_on_the_page_skips_nothing(app, mail_server, provider_smtp, mail_user):
    user, contact, sequence, enrolled, _keep, current = await _after_two_steps(
        app, mail_server, provider_smtp, mail_user
    )
    await sign_in(app.client, "seller@crm.test")
    page_url = f"/sequences/{sequence['id']}/edit"
    page = await app.client.get(page_url)
    fields = form_values(page.text, page_url)
    assert (await app.client.post(page_url, data={**fields, "remove_1": "on"})).status_code == 303

    same = await enrolment(user, enrolled["id"], contact["id"])
    assert (same["status"], same["next_step"], same["next_run_at"]) == ("active", 1, current["next_run_at"])
    assert [e["position"] for e in same["emails"]] == [0, None]  # B's email: its step is gone
    done, third = await step_sent(app, user, enrolled, contact["id"], 3)
    assert third["subject"] == "Step C" and third["text"].startswith("C: closing the loop.")
    assert (done["status"], done["stop_reason"]) == ("finished", "completed")
    assert [e["position"] for e in done["emails"]] == [0, None, 1]
    assert all("steps_removed" not in h["detail"] for h in done["history"])
    assert "removing an earlier step makes nobody skip one" in page.text  # what the page says is so


async def test_an_api_put_naming_positions_keeps_the_waiting_step(app, mail_server, provider_smtp, mail_user):
    """A B C D; the contact waits for C. A PUT of the GET's steps without B: C comes next, then D."""
    user, contact, sequence, enrolled, keep, _current = await _after_two_steps(
        app, mail_server, provider_smtp, mail_user
    )
    four = [*THREE, {"subject": "Step D", "text": "D: last one.", "delay_days": 1}]
    shown = (await user.get(f"/api/v1/sequences/{sequence['id']}")).json()["steps"]
    steps = [{k: s[k] for k in ("position", "subject", "text", "delay_days", "same_thread")} for s in shown]
    put = await user.put(f"/api/v1/sequences/{sequence['id']}", {**keep, "steps": [*steps, four[3]]})
    assert put.status_code == 200, put.text
    bad = await user.put(f"/api/v1/sequences/{sequence['id']}", {**keep, "steps": [steps[2], steps[0]]})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "steps[1].position"
    without_b = [{**s, "position": n} for n, s in enumerate(four) if n != 1]  # positions 0, 2, 3
    put = await user.put(f"/api/v1/sequences/{sequence['id']}", {**keep, "steps": without_b})
    assert put.status_code == 200, put.text
    assert [s["subject"] for s in put.json()["steps"]] == ["Step A", "Step C", "Step D"]
    assert (await enrolment(user, enrolled["id"], contact["id"]))["next_step"] == 1
    _, third = await step_sent(app, user, enrolled, contact["id"], 3)
    assert third["subject"] == "Step C"
    done, fourth = await step_sent(app, user, enrolled, contact["id"], 4)
    assert fourth["subject"] == "Step D" and done["status"] == "finished"

"""The OpenAPI document describes every body and answer, and the API keeps to it: schemathesis
generates requests from /api/openapi.json (valid ones and broken ones) and sends them, as a real
signed-in user, to the real app; no answer may be a 5xx, and every answer must match the document
(status code, content type, headers, body schema).

Bounded run: MAX_EXAMPLES per operation and mode. Left out of the fuzzing: POST /inboxes and
PUT /inboxes/{id}/credentials, which log in to the mail servers they are given (generated host
names would be looked up in DNS and connected to); their bodies are still checked in the
document below and by the other tests. The app runs with its send worker off, so generated
emails are queued but never handed to an SMTP server."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode

from tests.support import app as support
from tests.support.mail import inbox_body

MAX_EXAMPLES = 40
NEEDS_MAIL_SERVERS = {("POST", "/api/v1/inboxes"), ("PUT", "/api/v1/inboxes/{inbox_id}/credentials")}
CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_headers_conformance,
    schemathesis.checks.response_schema_conformance,
]


@contextmanager
def app_in_portal(data_dir: Path) -> Iterator[tuple[BlockingPortal, support.TestApp]]:
    """The app and its database on one event loop in a thread, driven from this synchronous test
    (hypothesis drives the examples synchronously)."""
    with start_blocking_portal() as portal:
        with portal.wrap_async_context_manager(support.running_app(data_dir, worker=False)) as app:
            yield portal, app


def seed(
    portal: BlockingPortal, app: support.TestApp, mail_server: Any, provider_smtp: Any, account: Any
) -> support.TestUser:
    """Something to find: an inbox, a contact, a queued email with an attachment, a relink."""

    async def build() -> support.TestUser:
        user = await app.user("fuzzer@crm.test")
        inbox = await user.post("/api/v1/inboxes", inbox_body(mail_server, provider_smtp, account))
        assert inbox.status_code == 201, inbox.text
        contact = await user.post("/api/v1/contacts", {"email": "c@prospect.test", "name": "C"})
        email = await user.post(
            "/api/v1/emails",
            {
                "inbox_id": inbox.json()["id"],
                "to": [{"email": "c@prospect.test"}],
                "subject": "Offer",
                "text": "t",
                "attachments": [
                    {
                        "filename": "a.txt",
                        "content_type": "text/plain",
                        "content_base64": base64.b64encode(b"a").decode(),
                    }
                ],
            },
        )
        assert email.status_code == 202, email.text
        moved = await user.post(
            f"/api/v1/emails/{email.json()['id']}/relink", {"contact_id": contact.json()["id"]}
        )
        assert moved.status_code == 200, moved.text
        return user

    return portal.call(build)


def as_httpx(kwargs: dict[str, Any]) -> dict[str, Any]:
    """schemathesis serialises a case for `requests`; the app is reached through httpx."""
    out = {k: kwargs[k] for k in ("method", "url", "headers", "params") if kwargs.get(k) is not None}
    assert not kwargs.get("cookies"), "the API documents no cookies"
    if "json" in kwargs:
        # ensure_ascii: generated text may hold lone surrogates, which only escaped JSON can carry.
        out["content"] = json.dumps(kwargs["json"]).encode()
    elif kwargs.get("data") is not None:
        data = kwargs["data"]
        out["content" if isinstance(data, (bytes, str)) else "data"] = data
    return out


def test_the_api_keeps_to_its_openapi_document(
    tmp_path, trust_test_ca, mail_server, provider_smtp, mail_user
):
    with app_in_portal(tmp_path / "data") as (portal, app):
        user = seed(portal, app, mail_server, provider_smtp, mail_user)
        document = portal.call(app.client.get, "/api/openapi.json").json()
        schema = schemathesis.openapi.from_dict(document)
        auth = {"Authorization": f"Bearer {user.token}"}
        operations = [result.ok() for result in schema.get_all_operations()]
        fuzzed = [op for op in operations if (op.method.upper(), op.path) not in NEEDS_MAIL_SERVERS]
        fuzzed.sort(key=lambda op: op.method.upper() == "DELETE")  # the seeded inbox goes last
        assert len(fuzzed) >= 17, [f"{op.method} {op.path}" for op in fuzzed]

        seen_statuses: set[int] = set()
        for operation in fuzzed:
            strategies = [
                *schema.get_strategies_from_examples(operation),  # the document's own examples
                operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
                operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
            ]
            for strategy in strategies:

                @settings(
                    max_examples=MAX_EXAMPLES,
                    deadline=None,
                    database=None,
                    derandomize=True,  # the same cases every run: a failure here is reproducible
                    phases=[Phase.explicit, Phase.generate],
                    suppress_health_check=list(HealthCheck),
                )
                @given(case=strategy)
                def exchange(case: Any) -> None:
                    kwargs = case.as_transport_kwargs(base_url=str(app.client.base_url), headers=auth)
                    response = portal.call(lambda: app.client.request(**as_httpx(kwargs)))
                    seen_statuses.add(response.status_code)
                    case.validate_response(response, checks=CHECKS)

                exchange()
        # The run reached the objects, not only their absence.
        assert {200, 404, 422} <= seen_statuses, seen_statuses


@pytest.mark.parametrize(
    ("path", "method", "body_schema"),
    [
        ("/api/v1/inboxes", "post", "InboxCreate"),
        ("/api/v1/inboxes/{inbox_id}/credentials", "put", "Credentials"),
        ("/api/v1/contacts", "post", "ContactCreate"),
        ("/api/v1/emails", "post", "EmailCreate"),
        ("/api/v1/emails/{email_id}/relink", "post", "Relink"),
    ],
)
async def test_every_request_body_is_described(app, path, method, body_schema):
    document = (await app.client.get("/api/openapi.json")).json()
    operation = document["paths"][path][method]
    ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert ref == f"#/components/schemas/{body_schema}"
    assert document["components"]["schemas"][body_schema]["properties"]
    assert operation["responses"]["422"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/ErrorResponse"
    )
    assert operation["security"] == [{"HTTPBearer": []}]

"""/api/v1/webhooks and /api/v1/events (docs/api.md "Webhooks", docs/webhooks.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import Field

from inboxlink.api.deps import CallerDep, JsonRoute, RuntimeDep
from inboxlink.api.schemas.types import ERROR_RESPONSES, Body, ErrorResponse, Text, Timestamp, View
from inboxlink.services.accounts import webhooks
from inboxlink.services.platform import events
from inboxlink.services.validation import DbInt

# Webhooks are managed by team administrators: 403 for other users.
RESPONSES = {
    **ERROR_RESPONSES,
    403: {"model": ErrorResponse, "description": "the caller is not a team administrator"},
}
router = APIRouter(prefix="/api/v1", route_class=JsonRoute, responses=RESPONSES)

EventType = Annotated[str, Field(max_length=40, examples=list(events.EVENT_TYPES))]


class WebhookCreate(Body):
    url: Annotated[Text, Field(max_length=2000, examples=["https://crm.example.com/hooks/inboxlink"])]
    events: Annotated[list[EventType], Field(min_length=1, max_length=len(events.EVENT_TYPES))]


class Webhook(View):
    id: int
    url: str
    events: list[str]
    created_at: Timestamp


class WebhookWithSecret(Webhook):
    secret: str = Field(description="whsec_ + base64; shown only in this answer")


class WebhookList(View):
    items: list[Webhook]


class Delivery(View):
    id: int
    event_id: str
    type: str
    status: str = Field(description="pending | delivered | failed")
    attempts: int
    last_status_code: int | None
    last_error: str | None
    last_attempt_at: Timestamp | None
    next_attempt_at: Timestamp | None
    delivered_at: Timestamp | None
    created_at: Timestamp


class DeliveryList(View):
    items: list[Delivery]


class Event(View):
    id: str
    type: str
    timestamp: Timestamp
    data: dict[str, object]


class EventPage(View):
    items: list[Event]
    next_cursor: str | None = Field(description="pass as ?after= for the next page (also when empty)")
    has_more: bool


@router.post("/webhooks", status_code=201, response_model=WebhookWithSecret)
async def create_webhook(rt: RuntimeDep, caller: CallerDep, body: WebhookCreate) -> dict[str, object]:
    return await webhooks.create_webhook(rt, caller, body.url, body.events)


@router.get("/webhooks", response_model=WebhookList)
async def list_webhooks(rt: RuntimeDep, caller: CallerDep) -> dict[str, object]:
    return {"items": await webhooks.list_webhooks(rt, caller)}


@router.get("/webhooks/{webhook_id}", response_model=Webhook)
async def get_webhook(rt: RuntimeDep, caller: CallerDep, webhook_id: DbInt) -> dict[str, object]:
    return await webhooks.get_webhook(rt, caller, webhook_id)


@router.delete("/webhooks/{webhook_id}", status_code=204, response_class=Response)
async def delete_webhook(rt: RuntimeDep, caller: CallerDep, webhook_id: DbInt) -> Response:
    await webhooks.delete_webhook(rt, caller, webhook_id)
    return Response(status_code=204)


@router.post("/webhooks/{webhook_id}/rotate-secret", response_model=WebhookWithSecret)
async def rotate_secret(rt: RuntimeDep, caller: CallerDep, webhook_id: DbInt) -> dict[str, object]:
    return await webhooks.rotate_secret(rt, caller, webhook_id)


@router.get("/webhooks/{webhook_id}/deliveries", response_model=DeliveryList)
async def list_deliveries(
    rt: RuntimeDep, caller: CallerDep, webhook_id: DbInt, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> dict[str, object]:
    return {"items": await webhooks.list_deliveries(rt, caller, webhook_id, limit)}


@router.post("/webhooks/{webhook_id}/deliveries/{delivery_id}/retry", response_model=Delivery)
async def retry_delivery(
    rt: RuntimeDep, caller: CallerDep, webhook_id: DbInt, delivery_id: DbInt
) -> dict[str, object]:
    return await webhooks.retry_delivery(rt, caller, webhook_id, delivery_id)


@router.get("/events", response_model=EventPage)
async def list_events(
    rt: RuntimeDep,
    caller: CallerDep,
    after: Annotated[str | None, Query(max_length=40)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, object]:
    return await events.list_events(rt, caller.team_id, after, limit)

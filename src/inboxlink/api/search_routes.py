"""The search route (issue 14 item 3): what the web search box answers, as JSON."""

from __future__ import annotations

from fastapi import APIRouter

from inboxlink.api.deps import CallerDep, JsonRoute, RuntimeDep
from inboxlink.api.schemas import search as schemas
from inboxlink.api.schemas.types import ERROR_RESPONSES
from inboxlink.services.crm.search import search

router = APIRouter(prefix="/api/v1", route_class=JsonRoute, responses=ERROR_RESPONSES)


@router.get("/search", response_model=schemas.SearchResults)
async def search_everything(rt: RuntimeDep, caller: CallerDep, q: str = "") -> dict[str, object]:
    # No length limit to refuse: the service reads the first 200 characters, and a query with
    # nothing searchable in it (punctuation, lone surrogates) finds nothing.
    return dict(await search(rt, caller, q))

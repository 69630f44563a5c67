"""CSV import (with a dry run: the preview and per-row errors) and export of contacts and companies."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Response
from pydantic import Field

from inboxlink.api.deps import CallerDep, JsonRoute, RuntimeDep
from inboxlink.api.schemas.types import ERROR_RESPONSES, Body, Text, View
from inboxlink.services.crm import csv_io

router = APIRouter(prefix="/api/v1", route_class=JsonRoute, responses=ERROR_RESPONSES)


class CsvImport(Body):
    csv: Annotated[Text, Field(description="the file's text; the first line names the columns")]
    dry_run: Annotated[bool, Field(description="check and preview only, import nothing")] = False


class RowError(View):
    row: int = Field(description="the line of the file")
    code: str | None = Field(default=None, description="`never_logged`: the address is on a never-log list")
    message: str


class ImportResult(View):
    kind: str
    columns: dict[str, str] = Field(description="field → the file's column it was read from")
    rows: int
    imported: int
    importable: int = Field(description="rows that are new and valid (what an import would create)")
    existing: int = Field(description="rows already in the CRM, left as they are")
    errors: list[RowError]
    preview: list[dict[str, object]]
    dry_run: bool


@router.post("/imports/{kind}", response_model=ImportResult)
async def import_csv(
    rt: RuntimeDep, caller: CallerDep, kind: Literal["contacts", "companies"], body: CsvImport
) -> dict[str, object]:
    run = csv_io.import_contacts if kind == "contacts" else csv_io.import_companies
    return await run(rt, caller, body.csv, dry_run=body.dry_run)


@router.get(
    "/exports/{kind}",
    response_class=Response,
    responses={200: {"description": "CSV, HubSpot-style columns", "content": {"text/csv": {}}}},
)
async def export_csv(rt: RuntimeDep, caller: CallerDep, kind: Literal["contacts", "companies"]) -> Response:
    text = await (csv_io.export_contacts if kind == "contacts" else csv_io.export_companies)(rt, caller)
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{kind}.csv"', "Cache-Control": "no-store"},
    )

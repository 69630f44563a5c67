"""CSV import and export in the web UI: upload, preview with per-row errors, import, downloads."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from inboxlink.services.crm import csv_io
from inboxlink.services.errors import ServiceError
from inboxlink.web.deps import CheckedForm, WebCaller, WebDep, text

router = APIRouter()
MAX_CSV_BYTES = 20 * 1024 * 1024


def _decode(data: bytes) -> str:
    """UTF-8 (with or without a BOM); else Windows-1252, what Excel on Windows saves a CSV in, so
    José is not turned into Jos\ufffd (latin-1 is a subset of it but for 0x80-0x9f)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


@router.get("/import", include_in_schema=False)
async def import_page(request: Request, web: WebDep, caller: WebCaller) -> Response:
    return await web.pages.render(
        request, "import.html", {"result": None, "error": None, "kind": "contacts"}, caller=caller
    )


@router.post("/import", include_in_schema=False)
async def run_import(request: Request, web: WebDep, caller: WebCaller, form: CheckedForm) -> Response:
    kind = "companies" if text(form, "kind") == "companies" else "contacts"
    upload = form.get("file")
    raw = str(form.get("csv") or "")
    error: str | None = None
    if isinstance(upload, UploadFile) and upload.filename:
        data = await upload.read(MAX_CSV_BYTES + 1)
        if len(data) > MAX_CSV_BYTES:
            raw, error = "", f"The file is larger than {MAX_CSV_BYTES // (1024 * 1024)} MB."
        else:
            raw = _decode(data)
    dry_run = text(form, "action") != "import"
    result = None
    if error is None and not raw.strip():
        error = "Choose a CSV file."
    elif error is None:
        try:
            run = csv_io.import_contacts if kind == "contacts" else csv_io.import_companies
            result = await run(web.rt, caller, raw, dry_run=dry_run)
        except ServiceError as exc:
            error = exc.message
    return await web.pages.render(
        request,
        "import.html",
        {"result": result, "error": error, "kind": kind, "csv": raw if dry_run and result else ""},
        caller=caller,
        status=422 if error else 200,
    )


@router.get("/export/{kind}.csv", include_in_schema=False)
async def export(web: WebDep, caller: WebCaller, kind: str) -> Response:
    run = csv_io.export_companies if kind == "companies" else csv_io.export_contacts
    return Response(
        await run(web.rt, caller),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{kind}.csv"', "Cache-Control": "no-store"},
    )

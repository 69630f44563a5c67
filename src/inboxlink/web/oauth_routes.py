"""The browser's side of the OAuth2 flow: the "Connect with …" / "Reconnect" buttons of the settings
page and the provider's redirect back (/oauth/callback), which answers with a redirect to the
settings page that says what happened.

The buttons post (with the CSRF token) and get a small page that moves on to the provider: the
site's CSP allows forms to submit only to itself (`form-action 'self'`), and browsers apply that to
a redirect answering the form too, so a 303 straight to the provider would be blocked."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from inboxlink.services.accounts import oauth
from inboxlink.services.errors import NotFound, ServiceError
from inboxlink.web.deps import CheckedForm, PageNotFound, WebCaller, WebDep, text

router = APIRouter()


@router.post("/settings/inboxes/oauth/{provider}", include_in_schema=False)
async def start(
    request: Request, web: WebDep, caller: WebCaller, provider: str, form: CheckedForm
) -> Response:
    inbox_id = text(form, "inbox_id")
    body: dict[str, object] = {"inbox_id": int(inbox_id)} if inbox_id.isdigit() else {}
    try:
        answer = await oauth.start_authorization(web.rt, caller, provider, body)
    except (NotFound, oauth.ProviderNotConfigured) as exc:
        raise PageNotFound() from exc
    except ServiceError:
        return RedirectResponse("/settings", status_code=303)
    label = next((p.label for p in oauth.configured(web.rt) if p.key == provider), provider)
    return await web.pages.render(
        request, "oauth_continue.html", {"url": answer["authorization_url"], "label": label}, caller=caller
    )


@router.get("/oauth/callback", include_in_schema=False)
async def callback(request: Request, web: WebDep) -> Response:
    """No session needed (a flow started through the API has none): the one-time state says whose
    flow this is. The settings page shows the outcome to that user only."""
    outcome = await oauth.finish_authorization(web.rt, request.query_params)
    ref = str(outcome.ref) if outcome.ref is not None else outcome.code
    anchor = f"#inbox-{outcome.inbox_id}" if outcome.ok and outcome.inbox_id else "#oauth-outcome"
    return RedirectResponse(f"/settings?oauth={ref}{anchor}", status_code=303)

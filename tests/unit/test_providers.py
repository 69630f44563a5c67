"""Provider knowledge (domain/providers.py) and the OAuth settings built on it (config.py)."""

from __future__ import annotations

import pytest

from inboxlink.config import ConfigError, load_settings
from inboxlink.domain.providers import PRESETS, explain_refusal, refusal_kind, security_for_port


@pytest.mark.parametrize(
    ("error", "kind"),
    [("invalid_grant", "revoked"), ("invalid_client", "client"), ("unauthorized_client", "client"),
     ("interaction_required", "other"), ("invalid_scope", "other")],
)  # fmt: skip
def test_refusal_kinds(error: str, kind: str) -> None:
    assert refusal_kind(error) == kind


@pytest.mark.parametrize(
    ("provider", "error", "description", "words"),
    [
        ("google", "invalid_grant", "Token has been expired or revoked.", "7 days"),
        ("microsoft", "invalid_grant", "AADSTS50173: The provided grant has expired", "password was changed"),
        (
            "microsoft",
            "invalid_client",
            "AADSTS7000222: secret expired",
            "INBOXLINK_OAUTH_MICROSOFT_CLIENT_SECRET",
        ),
    ],
)
def test_refusals_are_explained_in_words(provider: str, error: str, description: str, words: str) -> None:
    assert words in explain_refusal(provider, error, description)


@pytest.mark.parametrize(
    ("port", "security"), [(993, "tls"), (465, "tls"), (587, "starttls"), (25, "starttls"), (143, "starttls")]
)
def test_security_by_port(port: int, security: str) -> None:
    assert security_for_port(port) == security


def test_every_common_provider_has_a_preset_that_says_how_it_signs_in() -> None:
    labels = " ".join(p.label for p in PRESETS)
    for name in (
        "Gmail",
        "Microsoft 365",
        "Outlook.com",
        "Yahoo",
        "iCloud",
        "Fastmail",
        "Zoho",
        "GMX",
        "Proton",
    ):
        assert name in labels
    assert {p.oauth_provider for p in PRESETS if p.auth == "oauth"} == {"google", "microsoft"}


def test_oauth_settings_defaults_tenant_and_https_only() -> None:
    base = {"INBOXLINK_OAUTH_MICROSOFT_CLIENT_ID": "id", "INBOXLINK_OAUTH_MICROSOFT_CLIENT_SECRET": "s"}
    ms = load_settings({**base, "INBOXLINK_OAUTH_MICROSOFT_TENANT": "contoso.example"}).oauth["microsoft"]
    assert ms.token_url == "https://login.microsoftonline.com/contoso.example/oauth2/v2.0/token"
    assert ms.imap == ("outlook.office365.com", 993, "tls") and ms.smtp == (
        "smtp.office365.com",
        587,
        "starttls",
    )
    assert "google" not in load_settings(base).oauth  # not configured: no button, no API
    with pytest.raises(ConfigError, match="https"):
        load_settings({**base, "INBOXLINK_OAUTH_MICROSOFT_TOKEN_URL": "http://login.example/token"})
    local = load_settings({**base, "INBOXLINK_OAUTH_MICROSOFT_TOKEN_URL": "http://127.0.0.1:9/token"})
    assert local.oauth["microsoft"].token_url == "http://127.0.0.1:9/token"
    with pytest.raises(ConfigError, match="CLIENT_SECRET"):
        load_settings({"INBOXLINK_OAUTH_GOOGLE_CLIENT_ID": "id"})

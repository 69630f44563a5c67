"""What inboxlink knows about mail providers, as data: the OAuth endpoints and scopes of Google and
Microsoft, their mail servers, whether they file sent mail themselves, and the connect form's presets
for every common provider (with whether it takes OAuth or an app password).

One module so the connect form, the OAuth flow, the sender and docs/oauth.md say the same thing. Pure:
no I/O; the configured overrides (INBOXLINK_OAUTH_*) are applied by `config` on top of these defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Security = Literal["tls", "starttls", "none"]


@dataclass(frozen=True)
class OAuthProvider:
    key: str  # "google" | "microsoft": the {provider} of the API and the inbox's `provider`
    label: str  # "Google": "Connect with Google"
    authorize_url: str  # may hold "{tenant}"
    token_url: str
    scopes: tuple[str, ...]
    # Extra authorization parameters: Google hands out a refresh token only with offline access
    # *and* a consent prompt (a second grant without prompt=consent comes back without one).
    authorize_params: tuple[tuple[str, str], ...]
    imap: tuple[str, int]
    smtp: tuple[str, int]
    # id_token claims holding the mailbox address, in order of trust (contract: Microsoft `email`,
    # else `preferred_username`).
    address_claims: tuple[str, ...]
    files_sent_copy: bool  # the provider stores what SMTP accepted in Sent itself (no APPEND)


GOOGLE = OAuthProvider(
    key="google",
    label="Google",
    authorize_url="https://accounts.google.com/o/oauth2/v2/auth",
    token_url="https://oauth2.googleapis.com/token",
    scopes=("https://mail.google.com/", "openid", "email"),
    authorize_params=(("access_type", "offline"), ("prompt", "consent")),
    imap=("imap.gmail.com", 993),
    smtp=("smtp.gmail.com", 465),
    address_claims=("email",),
    files_sent_copy=True,
)

MICROSOFT = OAuthProvider(
    key="microsoft",
    label="Microsoft",
    authorize_url="https://login.microsoftonline.com/{tenant}/oauth2/v2.0/authorize",
    token_url="https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token",
    scopes=(
        "https://outlook.office.com/IMAP.AccessAsUser.All",
        "https://outlook.office.com/SMTP.Send",
        "offline_access",
        "openid",
        "email",
    ),
    authorize_params=(),
    imap=("outlook.office365.com", 993),
    smtp=("smtp.office365.com", 587),
    address_claims=("email", "preferred_username"),
    files_sent_copy=True,
)

OAUTH_PROVIDERS: dict[str, OAuthProvider] = {p.key: p for p in (GOOGLE, MICROSOFT)}


def security_for_port(port: int) -> Security:
    """The contract: implicit TLS, except STARTTLS on the submission/plain ports 143, 587 and 25."""
    return "starttls" if port in {143, 587, 25} else "tls"


# ---- what a token endpoint's refusal means -------------------------------------------------------

# RFC 6749 §5.2 error codes (and the AADSTS numbers Entra puts in `error_description`) → what the
# inbox becomes. "revoked": the grant is gone, the user must connect again (access_revoked);
# "client": our own OAuth client is refused, an administrator must act (oauth_client_invalid).
GRANT_ERRORS = {"invalid_grant": "revoked", "unauthorized_client": "client", "invalid_client": "client"}

# Entra error numbers an admin or user will meet, in words (docs/oauth.md lists the same).
AADSTS_TEXT = {
    "AADSTS50173": "the user's password was changed or reset, so the grant was revoked",
    "AADSTS50076": "the tenant now requires multi-factor authentication for this sign-in",
    "AADSTS65001": "the user or administrator has not consented to inboxlink's permissions",
    "AADSTS70000": "the grant was issued for other scopes or has been revoked",
    "AADSTS70008": "the refresh token expired after long inactivity",
    "AADSTS700082": "the refresh token expired after 90 days of inactivity",
    "AADSTS7000215": "the client secret is wrong",
    "AADSTS7000222": "the client secret has expired",
    "AADSTS90072": "this account is not in the tenant the app is registered for",
    "AADSTS50020": "this account is not in the tenant the app is registered for",
}


def refusal_kind(error: str) -> str:
    """ "revoked", "client" or "other" for an OAuth `error` code."""
    return GRANT_ERRORS.get(error, "other")


def explain_refusal(provider: str, error: str, description: str) -> str:
    """A sentence a user or admin can act on, for a token endpoint's refusal."""
    known = [text for code, text in AADSTS_TEXT.items() if code in description]
    why = f" ({known[0]})" if known else ""
    if refusal_kind(error) == "client":
        return (
            f"The mail provider refused inboxlink's own OAuth client ({error}{why}): an administrator must "
            f"renew the client secret (INBOXLINK_OAUTH_{provider.upper()}_CLIENT_SECRET) and restart inboxlink."
        )
    if provider == "google":
        return (
            f"Google no longer accepts the grant ({error}{why}): access was revoked, the password was reset, "
            'or it expired — Google lets grants of apps in "testing" status expire after 7 days, and '
            "unused ones after 6 months. Reconnect with Google."
        )
    return f"Microsoft no longer accepts the grant ({error}{why}). Reconnect with Microsoft."


# ---- the connect form's presets ------------------------------------------------------------------


@dataclass(frozen=True)
class Preset:
    key: str
    label: str
    imap: tuple[str, int, Security]
    smtp: tuple[str, int, Security]
    auth: Literal["oauth", "app_password", "password", "bridge"]
    oauth_provider: str | None = None  # which "Connect with …" button serves it
    hint: str = ""


PRESETS: tuple[Preset, ...] = (
    Preset("gmail", "Gmail / Google Workspace", ("imap.gmail.com", 993, "tls"), ("smtp.gmail.com", 465, "tls"),
           "oauth", "google", "Use “Connect with Google” above. Without it: an app password "
           "(Google Account → Security → App passwords), if your admin allows them."),
    Preset("microsoft365", "Microsoft 365 (work or school)", ("outlook.office365.com", 993, "tls"),
           ("smtp.office365.com", 587, "starttls"), "oauth", "microsoft",
           "Use “Connect with Microsoft” above: Microsoft 365 no longer accepts passwords for IMAP."),
    Preset("outlook", "Outlook.com / Hotmail", ("outlook.office365.com", 993, "tls"),
           ("smtp.office365.com", 587, "starttls"), "oauth", "microsoft",
           "Use “Connect with Microsoft” above: Outlook.com turned passwords off for IMAP in September 2024."),
    Preset("yahoo", "Yahoo Mail", ("imap.mail.yahoo.com", 993, "tls"), ("smtp.mail.yahoo.com", 465, "tls"),
           "app_password", None, "Yahoo needs an app password (Account security → Generate app password)."),
    Preset("icloud", "iCloud Mail", ("imap.mail.me.com", 993, "tls"), ("smtp.mail.me.com", 587, "starttls"),
           "app_password", None,
           "iCloud needs an app-specific password (appleid.apple.com). Your user name is the part before @."),
    Preset("fastmail", "Fastmail", ("imap.fastmail.com", 993, "tls"), ("smtp.fastmail.com", 465, "tls"),
           "app_password", None, "Fastmail needs an app password (Settings → Privacy & Security)."),
    Preset("zoho", "Zoho Mail", ("imap.zoho.com", 993, "tls"), ("smtp.zoho.com", 465, "tls"),
           "app_password", None, "Turn IMAP on in Zoho Mail settings; with two-factor sign-in use an "
           "application-specific password. EU accounts: imap.zoho.eu / smtp.zoho.eu."),
    Preset("gmx", "GMX / WEB.DE", ("imap.gmx.net", 993, "tls"), ("mail.gmx.net", 587, "starttls"),
           "password", None, "Turn on “POP3/IMAP access” in the GMX settings first. WEB.DE: imap.web.de / "
           "smtp.web.de."),
    Preset("proton", "Proton Mail (Bridge)", ("127.0.0.1", 1143, "starttls"), ("127.0.0.1", 1025, "starttls"),
           "bridge", None, "Proton Mail works through Proton Mail Bridge running next to inboxlink: use the "
           "host, ports and the Bridge password it shows (not your Proton password)."),
    Preset("other", "Other (IMAP)", ("", 993, "tls"), ("", 587, "starttls"), "password"),
)  # fmt: skip

AUTH_TEXT = {
    "oauth": "Sign in with the provider (OAuth)",
    "app_password": "App password",
    "password": "Mailbox password",
    "bridge": "Bridge password",
}


# ---- how each provider's mail server behaves (docs/compatibility.md says where each fact is from) --


@dataclass(frozen=True)
class ServerHabits:
    key: str
    label: str
    # IMAP/SMTP host names that are this provider (exact, lower case): an app-password or
    # custom-domain mailbox is recognised by its servers, not only by the OAuth button used.
    hosts: tuple[str, ...] = ()
    # What the server says of itself where the host name is the customer's own (Workspace, on-premises
    # Exchange): a capability it alone announces, or words of its greeting (lower case).
    capabilities: tuple[str, ...] = ()
    greeting_words: tuple[str, ...] = ()
    oauth_provider: str | None = None
    # The Sent folder's usual name(s), tried right after the \Sent attribute and before the generic
    # name rules, so a stray "Sent" made by another app does not win over iCloud's "Sent Messages".
    sent_names: tuple[str, ...] = ()
    files_sent_copy: bool = False  # the provider stores what its SMTP accepted in Sent itself: no APPEND
    # Seconds after which inboxlink ends and renews IDLE, below the server's own cut; None: the
    # configured INBOXLINK_IDLE_RESTART (25 min, under RFC 2177's 29 minutes).
    idle_renew: float | None = None
    max_connections: int | None = None  # simultaneous IMAP connections per account, where published
    # Folders that hold every message again (Gmail's All Mail): never followed, or every reply would
    # be read twice and the user's whole mailbox scanned.
    every_message_folders: tuple[str, ...] = ()


GENERIC = ServerHabits("other", "Other IMAP server")

SERVER_HABITS: tuple[ServerHabits, ...] = (
    ServerHabits(
        "gmail", "Gmail / Google Workspace",
        hosts=("imap.gmail.com", "smtp.gmail.com", "imap.googlemail.com", "smtp.googlemail.com"),
        capabilities=("X-GM-EXT-1",), oauth_provider="google",
        sent_names=("[Gmail]/Sent Mail", "[Google Mail]/Sent Mail"), files_sent_copy=True,
        max_connections=15, every_message_folders=("[Gmail]/All Mail", "[Google Mail]/All Mail"),
    ),
    ServerHabits(
        "microsoft", "Exchange / Microsoft 365 / Outlook.com",
        hosts=("outlook.office365.com", "smtp.office365.com", "outlook.office.com",
               "imap-mail.outlook.com", "smtp-mail.outlook.com"),
        greeting_words=("microsoft exchange",), oauth_provider="microsoft",
        # Exchange closes an authenticated connection after 30 idle minutes by default (IDLE included).
        sent_names=("Sent Items",), files_sent_copy=True, idle_renew=25 * 60, max_connections=20,
    ),
    ServerHabits(
        "icloud", "iCloud Mail", hosts=("imap.mail.me.com", "smtp.mail.me.com"),
        capabilities=("AUTH=ATOKEN",), sent_names=("Sent Messages",),
    ),
    ServerHabits(
        "yahoo", "Yahoo Mail", hosts=("imap.mail.yahoo.com", "smtp.mail.yahoo.com"),
        capabilities=("XYMHIGHESTMODSEQ",), sent_names=("Sent",), idle_renew=3 * 60,
    ),
)  # fmt: skip


def server_habits(
    imap_host: str = "",
    smtp_host: str = "",
    oauth_provider: str | None = None,
    *,
    greeting: str = "",
    capabilities: frozenset[str] = frozenset(),
) -> ServerHabits:
    """The habits of the provider behind these servers (GENERIC when none is known)."""
    hosts = {imap_host.lower().rstrip("."), smtp_host.lower().rstrip(".")}
    said = greeting.lower()
    for habits in SERVER_HABITS:
        if (
            (oauth_provider is not None and habits.oauth_provider == oauth_provider)
            or hosts & set(habits.hosts)
            or any(cap in capabilities for cap in habits.capabilities)
            or any(words in said for words in habits.greeting_words)
        ):
            return habits
    return GENERIC


def idle_renewal(habits: ServerHabits, configured: float) -> float:
    """Seconds to stay in one IDLE: the configured restart, shortened to the provider's habit."""
    return configured if habits.idle_renew is None else min(configured, habits.idle_renew)


def followed_folders(habits: ServerHabits, sent_folder: str | None) -> list[str]:
    """The folders a monitor follows, Sent first (a reply may answer the user's own follow-up) and
    INBOX last (it stays selected for IDLE). A folder holding every message again is never one."""
    skip = {name.casefold() for name in habits.every_message_folders}
    sent = [sent_folder] if sent_folder and sent_folder.casefold() not in skip else []
    return [*sent, "INBOX"]

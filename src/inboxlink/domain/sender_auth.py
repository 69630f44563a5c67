"""Who the BCC listener takes as the author of a message: the From rules that refuse a message, and
the verdict of the DKIM/SPF checks (pure: the results come in, "verified or not, and why" goes out).

A message is *verified* when it carries a valid DKIM signature whose `d=` is aligned with the From
domain, or when SPF passes for an envelope-sender domain aligned with it from the connecting IP:
either proves that the From domain's own mail system sent it. Aligned means equal, or one a
subdomain of the other (only the parent zone's owner can publish keys or SPF for either).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "INLINE_FORWARD", "NOT_CHECKED", "DkimResult", "SpfResult", "Verdict",
    "aligned", "from_refusal", "judge", "judge_forwarded",
]  # fmt: skip

_SHOWN = 3  # addresses quoted in a refusal


@dataclass(frozen=True)
class DkimResult:
    domain: str  # the signature's d=, lower-case
    passed: bool
    note: str = ""  # why it did not pass, when it did not


@dataclass(frozen=True)
class SpfResult:
    result: str  # pass | fail | softfail | neutral | none | temperror | permerror
    domain: str  # the envelope sender's domain (HELO's for a null sender)
    ip: str


@dataclass(frozen=True)
class Verdict:
    verified: bool | None  # None: not checked
    reason: str | None = None


NOT_CHECKED = Verdict(None)


def from_refusal(from_fields: Sequence[Sequence[str]]) -> str | None:
    """Why a message must be refused for its From fields (each field's addresses, as written), or
    None. RFC 5322 allows one From field; several authors need a Sender, and inboxlink logs mail of
    exactly one user, so both forms are refused rather than guessed ("the first wins" let
    `From: alice, evil` through)."""
    if len(from_fields) > 1:
        return f"The message has {len(from_fields)} From header fields; send it with exactly one"
    if not from_fields:
        return None
    addresses = list(from_fields[0])
    if len(addresses) > 1:
        shown = ", ".join(a or "?" for a in addresses[:_SHOWN]) + (", ..." if len(addresses) > _SHOWN else "")
        return f"From lists {len(addresses)} addresses ({shown}); send it with exactly one author"
    if not addresses or "@" not in addresses[0].strip("@"):
        return "The From header field has no address inboxlink can read"
    return None


def aligned(domain: str, from_domain: str) -> bool:
    domain, from_domain = domain.lower().rstrip("."), from_domain.lower().rstrip(".")
    if not domain or not from_domain:
        return False
    return domain == from_domain or from_domain.endswith("." + domain) or domain.endswith("." + from_domain)


def judge(from_domain: str, dkim: Sequence[DkimResult], spf: SpfResult | None) -> Verdict:
    """The verdict on a message received straight from its sender's mail system."""
    for sig in dkim:
        if sig.passed and aligned(sig.domain, from_domain):
            return Verdict(True, f"DKIM signature by {sig.domain}")
    if spf is not None and spf.result == "pass" and aligned(spf.domain, from_domain):
        return Verdict(True, f"SPF pass for {spf.domain} from {spf.ip}")
    return Verdict(False, f"{_dkim_failure(from_domain, dkim)}; {_spf_failure(from_domain, spf)}")


def judge_forwarded(from_domain: str, dkim: Sequence[DkimResult]) -> Verdict:
    """An original attached to a forward: only its own DKIM signature can vouch for it (no SMTP hop of
    its own was seen, so SPF says nothing)."""
    for sig in dkim:
        if sig.passed and aligned(sig.domain, from_domain):
            return Verdict(True, f"forwarded original with a DKIM signature by {sig.domain}")
    return Verdict(False, f"forwarded original: {_dkim_failure(from_domain, dkim)}")


INLINE_FORWARD = Verdict(False, "forwarded as quoted text: its sender cannot be verified")


def _dkim_failure(from_domain: str, dkim: Sequence[DkimResult]) -> str:
    mine = [s for s in dkim if aligned(s.domain, from_domain)]
    if mine:
        return f"DKIM signature by {mine[0].domain} did not verify ({mine[0].note or 'invalid'})"
    if dkim:
        others = ", ".join(sorted({s.domain or "?" for s in dkim}))
        return f"no DKIM signature by {from_domain or '?'} (only by {others})"
    return f"no DKIM signature by {from_domain or '?'}"


def _spf_failure(from_domain: str, spf: SpfResult | None) -> str:
    if spf is None:
        return "SPF not checked"
    where = f"SPF {spf.result} for {spf.domain or '?'} from {spf.ip or '?'}"
    if spf.result == "pass":
        return f"{where}, which is not {from_domain or '?'}"
    return where

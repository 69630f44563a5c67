"""domain.auto_replies: headers first, then subjects in several languages."""

from __future__ import annotations

import pytest

from inboxlink.domain.auto_replies import auto_reply_reason


@pytest.mark.parametrize(
    ("headers", "subject", "auto"),
    [
        ({"auto-submitted": "auto-replied"}, "Re: Our offer", True),
        ({"auto-submitted": "auto-generated"}, "Hello", True),
        ({"auto-submitted": "no"}, "Re: Our offer", False),
        ({"x-autoreply": "yes"}, "Re: Our offer", True),
        ({"x-autorespond": "Re: Our offer"}, "Re: Our offer", True),
        ({"precedence": "auto_reply"}, "x", True),
        ({"precedence": "bulk"}, "x", False),
        ({"x-ms-exchange-inbox-rules-loop": "chris@prospect.example"}, "x", True),
        ({"x-auto-response-suppress": "All"}, "Re: Our offer", False),  # Outlook sets it on ordinary mail
        ({}, "Out of Office: Our offer", True),
        ({}, "Automatic reply: Our offer", True),
        ({}, "AW: Abwesenheitsnotiz: Unser Angebot", True),
        ({}, "Automatische Antwort: Unser Angebot", True),
        ({}, "Réponse automatique : Notre offre", True),
        ({}, "Autoodpowiedź: Nasza oferta", True),
        ({}, "Respuesta automática: Nuestra oferta", True),
        ({}, "Risposta automatica: offerta", True),
        ({}, "Re: Our offer", False),
        ({}, "Re: what to do when out of office", False),  # only a leading phrase counts
        ({}, "", False),
    ],
)
def test_auto_reply_table(headers: dict[str, str], subject: str, auto: bool) -> None:
    assert (auto_reply_reason(headers, subject) is not None) is auto

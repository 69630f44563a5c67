import pytest

from inboxlink.domain.content_types import OCTET_STREAM, attachment_type


@pytest.mark.parametrize(
    ("declared", "written"),
    [
        ("application/pdf", "application/pdf"),
        ("  IMAGE/PNG ", "image/png"),
        ("application/vnd.openxmlformats-officedocument.wordprocessingml.document",
         "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        ("application/x-7z-compressed", "application/x-7z-compressed"),
        ("text/x-c++src", "text/x-c++src"),
        # structure a single base64 part cannot have
        ("multipart/mixed", OCTET_STREAM),
        ("Multipart/Alternative", OCTET_STREAM),
        ("message/rfc822", OCTET_STREAM),
        ("message/partial", OCTET_STREAM),
        # not an RFC 2045 token pair
        ("te;xt/plain", OCTET_STREAM),
        ("text/pl ain", OCTET_STREAM),
        ("text/plain; charset=utf-8", OCTET_STREAM),
        ('"text"/plain', OCTET_STREAM),
        ("text/ht\x0bml", OCTET_STREAM),
        ("text/plain/extra", OCTET_STREAM),
        ("text/", OCTET_STREAM),
        ("/plain", OCTET_STREAM),
        ("textplain", OCTET_STREAM),
        ("tëxt/plain", OCTET_STREAM),
        ("text/(plain)", OCTET_STREAM),
        ("", OCTET_STREAM),
        (None, OCTET_STREAM),
    ],
)  # fmt: skip
def test_attachment_type(declared: str | None, written: str) -> None:
    assert attachment_type(declared) == written

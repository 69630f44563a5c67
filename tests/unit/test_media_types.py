import pytest

from inboxlink.domain.media_types import FALLBACK_MEDIA_TYPE, media_type_or_default


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("text/plain", "text/plain"),
        ("Text/HTML", "text/html"),
        ("application/vnd.openxmlformats-officedocument.wordprocessingml.document",
         "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        ("image/svg+xml", "image/svg+xml"),
        ("application/x-www-form-urlencoded", "application/x-www-form-urlencoded"),
        ("message/rfc822", "message/rfc822"),
        ("text/ht\x0bml", FALLBACK_MEDIA_TYPE),  # issue 9: dropped the download's connection
        ("text/html\r\nX-Evil: 1", FALLBACK_MEDIA_TYPE),
        ("text/html\n", FALLBACK_MEDIA_TYPE),
        ("text/html; charset=utf-8", FALLBACK_MEDIA_TYPE),  # parameters are not part of the type
        ("te;xt/plain", FALLBACK_MEDIA_TYPE),
        ("text /plain", FALLBACK_MEDIA_TYPE),
        ("text/plain/extra", FALLBACK_MEDIA_TYPE),
        ("textplain", FALLBACK_MEDIA_TYPE),
        ("/plain", FALLBACK_MEDIA_TYPE),
        ("text/", FALLBACK_MEDIA_TYPE),
        ("text/pla\"in", FALLBACK_MEDIA_TYPE),
        ("text/plaïn", FALLBACK_MEDIA_TYPE),
        ("text/\u212aelvin", FALLBACK_MEDIA_TYPE),  # lower-cases to ASCII "k": still not ASCII input
        ("a" * 200 + "/" + "b" * 100, FALLBACK_MEDIA_TYPE),
        ("", FALLBACK_MEDIA_TYPE),
        (None, FALLBACK_MEDIA_TYPE),
    ],
)  # fmt: skip
def test_only_a_pair_of_rfc2045_tokens_is_kept(value: str | None, expected: str) -> None:
    assert media_type_or_default(value) == expected

"""safe_filename: what an attachment name may become on our side (never a path, never empty)."""

from __future__ import annotations

import pytest

from inboxlink.mime.parse import safe_filename


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("report.pdf", "report.pdf"),
        ("../../etc/passwd", "passwd"),
        ("..\\..\\boot.ini", "boot.ini"),
        ("C:\\Users\\x\\a.txt", "a.txt"),
        ("/absolute/path/file.txt", "file.txt"),
        ("dir/", "dir"),
        (".bashrc", "bashrc"),
        ("...hidden", "hidden"),
        ("trailing. . ", "trailing"),
        ("tab\there\r\n.txt", "tabhere.txt"),
        ("na\x00me.txt", "name.txt"),
        ("nul.txt", "_nul.txt"),
        ("invoice\u202efdp.exe", "invoicefdp.exe"),  # right-to-left override
        ('re<po>rt:"1"|?*.pdf', "re_po_rt__1____.pdf"),
        ("CON.txt", "_CON.txt"),
        ("über sicht.pdf", "über sicht.pdf"),
        ("u\u0308bersicht.pdf", "übersicht.pdf"),  # NFC
        ("", "attachment"),
        ("   ", "attachment"),
        ("..", "attachment"),
        ("../..", "attachment"),
        ("\x00\x01", "attachment"),
    ],
)
def test_safe_filename(name: str, expected: str) -> None:
    assert safe_filename(name) == expected


def test_safe_filename_length_keeps_extension() -> None:
    assert safe_filename("a" * 500 + ".pdf") == "a" * 196 + ".pdf"
    assert safe_filename("b" * 500) == "b" * 200
    assert len(safe_filename("名" * 300 + ".docx")) == 200
    assert safe_filename("x." + "y" * 300) == "x." + "y" * 198

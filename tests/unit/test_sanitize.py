import re

import pytest

from inboxlink.mime.sanitize import REMOTE_SRC_ATTRIBUTE, sanitize_html, sanitize_html_within


@pytest.mark.parametrize(
    ("dirty", "forbidden"),
    [
        ("<script>alert(1)</script>ok", "alert"),
        ("<SCRIPT SRC=https://evil.example/x.js></SCRIPT>ok", "evil"),
        ("<style>body{background:url(https://t.example/x)}</style>ok", "t.example"),
        ("<iframe src='https://evil.example'></iframe>ok", "iframe"),
        ("<object data='x.swf'></object><embed src='x.swf'>ok", "swf"),
        ("<form action='https://evil.example/login'><input name=pw></form>ok", "form"),
        ("<form action='https://evil.example/login'><input name=pw></form>ok", "input"),
        ("<p onclick='steal()'>ok</p>", "onclick"),
        ("<img src=x onerror=alert(1)>ok", "onerror"),
        ("<body onload='x()'>ok</body>", "onload"),
        ("<svg onload=alert(1)><circle/></svg>ok", "svg"),
        ("<a href='javascript:alert(1)'>ok</a>", "javascript"),
        ("<a href='JaVaScRiPt:alert(1)'>ok</a>", "alert"),
        ("<a href='java&#x09;script:alert(1)'>ok</a>", "alert"),
        ("<a href='vbscript:msgbox(1)'>ok</a>", "vbscript"),
        ("<a href='data:text/html;base64,PHNjcmlwdD4='>ok</a>", "data:"),
        ("<meta http-equiv='refresh' content='0;url=https://evil.example'>ok", "refresh"),
        ("<base href='https://evil.example/'>ok", "base"),
        ("<link rel=stylesheet href='https://t.example/x.css'>ok", "t.example"),
        ("<div style='background-image:url(https://t.example/p.gif)'>ok</div>", "url("),
        ("<div style='position:fixed;top:0'>ok</div>", "position"),
        ("<table background='https://t.example/bg.png'><tr><td>ok</td></tr></table>", "t.example"),
        ("<img srcset='https://t.example/a.png 2x'>ok", "t.example"),
        ("<div class='btn btn-danger' id='login'>ok</div>", "btn"),
        ("<!-- secret --><p>ok</p>", "secret"),
        ("<title>Leaky title</title><p>ok</p>", "Leaky"),
        ("<a href='//evil.example/x'>ok</a>", "evil"),  # protocol-relative
        ("<img src='//t.example/pixel.gif'>ok", "t.example"),
    ],
)
def test_dangerous_markup_is_removed(dirty: str, forbidden: str) -> None:
    clean = sanitize_html(dirty)
    assert forbidden.lower() not in clean.lower()
    assert "ok" in clean


def test_remote_images_are_parked() -> None:
    clean = sanitize_html('<p>Hi</p><img src="https://tracker.example/open.gif?id=42&u=7" width="1" alt="">')
    assert ' src="' not in clean
    assert f'{REMOTE_SRC_ATTRIBUTE}="https://tracker.example/open.gif?id=42&amp;u=7"' in clean
    assert 'width="1"' in clean


@pytest.mark.parametrize("url", ["http://a.example/x.png", "HTTPS://A.EXAMPLE/X.PNG", "https://a.example/x"])
def test_remote_image_schemes(url: str) -> None:
    clean = sanitize_html(f"<img alt='a' src='{url}'/>")
    assert re.fullmatch(rf'<img alt="a" {REMOTE_SRC_ATTRIBUTE}="{re.escape(url)}">', clean)


def test_image_attribute_text_cannot_fake_a_src() -> None:
    clean = sanitize_html("""<img alt=' src="https://t.example/a"' src="https://t.example/b">""")
    assert clean.count(REMOTE_SRC_ATTRIBUTE) == 1
    assert ' src="' not in clean
    assert f'{REMOTE_SRC_ATTRIBUTE}="https://t.example/b"' in clean


def test_attacker_cannot_supply_data_remote_src_directly() -> None:
    clean = sanitize_html('<img data-remote-src="javascript:alert(1)"><div data-remote-src="x">ok</div>')
    assert "data-remote-src" not in clean


def test_inline_and_embedded_images_stay() -> None:
    clean = sanitize_html('<img src="cid:logo@acme.example"><img src="data:image/png;base64,iVBORw0KGgo=">')
    assert 'src="cid:logo@acme.example"' in clean
    assert 'src="data:image/png;base64,iVBORw0KGgo="' in clean


def test_cid_and_data_only_for_images() -> None:
    clean = sanitize_html('<a href="cid:x">a</a><img src="data:text/html,<script>x</script>">')
    assert "cid:" not in clean
    assert "data:" not in clean


def test_links_open_safely() -> None:
    clean = sanitize_html(
        '<a href="https://example.com/offer?a=1&b=2" target="_self" rel="opener">See</a>'
        '<a href="mailto:bob@example.com">Mail</a>'
    )
    assert clean.count('target="_blank"') == 2
    assert clean.count('rel="noopener noreferrer"') == 2
    assert "_self" not in clean
    assert 'rel="opener"' not in clean
    assert 'href="https://example.com/offer?a=1&amp;b=2"' in clean
    assert 'href="mailto:bob@example.com"' in clean


def test_ordinary_mail_formatting_survives() -> None:
    html = (
        "<div><p>Hello <b>Bob</b>, <i>thanks</i>!</p><blockquote>quoted</blockquote>"
        "<table><tbody><tr><td>1</td><td>2</td></tr></tbody></table><ul><li>x</li></ul><br></div>"
    )
    assert sanitize_html(html) == html


def test_safe_inline_styles_survive() -> None:
    clean = sanitize_html('<span style="color: red; font-weight: bold; position: absolute">x</span>')
    assert clean == '<span style="color:red;font-weight:bold">x</span>'


def test_text_is_escaped_not_interpreted() -> None:
    assert sanitize_html("1 &lt; 2 &amp; <b>ok</b>") == "1 &lt; 2 &amp; <b>ok</b>"
    assert sanitize_html("") == ""


# Every way of writing a remote image source that a browser still loads (WHATWG URL parsing strips
# leading/trailing C0 controls and spaces and drops tabs/newlines anywhere; nh3 decodes entities).
# Before issue 9 the first eight reached API consumers of `html` as a live `src`.
@pytest.mark.parametrize(
    "src",
    [
        " http://t.example/p.gif",  # leading space
        "\thttp://t.example/p.gif",  # leading tab
        "\nhttps://t.example/p.gif",  # leading newline
        "&#32;https://t.example/p.gif",  # entity-encoded space
        "&#x09;http://t.example/p.gif",  # entity-encoded tab
        "ht&#9;tp://t.example/p.gif",  # tab inside the scheme
        "h&#10;ttps://t.example/p.gif",  # newline inside the scheme
        "&#1;http://t.example/p.gif",  # a leading C0 control
        "&#104;ttp://t.example/p.gif",  # entity-encoded letter
        "HtTpS://t.example/p.gif",  # mixed-case scheme
        "HTTP://T.EXAMPLE/P.GIF",
        "https:\\\\t.example\\p.gif",  # backslashes: special-scheme URLs read them as slashes
        "https://t.example/p.gif ",  # trailing space
        "mailto:x@t.example",  # not remote, but not local either: parked like the rest
    ],
)
def test_every_remote_image_source_is_parked(src: str) -> None:
    clean = sanitize_html(f'<p>hi</p><img alt="a" src="{src}">')
    assert re.search(r'\ssrc="', clean) is None, clean
    assert clean.count(f'{REMOTE_SRC_ATTRIBUTE}="') == 1, clean


@pytest.mark.parametrize(
    "src",
    [
        "cid:logo@acme.example",
        " cid:logo@acme.example",
        "CID:logo@acme.example",
        "data:image/png;base64,iVBORw0KGgo=",
        "\tdata:image/gif;base64,R0lGOD==",
    ],
)
def test_local_image_sources_stay(src: str) -> None:
    clean = sanitize_html(f'<img src="{src}">')
    assert ' src="' in clean and REMOTE_SRC_ATTRIBUTE not in clean, clean


@pytest.mark.parametrize(
    ("html", "limit"),
    [
        ("<p>Hello <b>world</b></p>\n" * 10_000, 50_000),
        ('<p><a href="https://x.example/">link</a> &amp; more</p>' * 5_000, 20_000),
        ("<div><table><tr><td>cell</td></tr></table>" * 5_000 + "</div>", 30_000),
        ('<img src="https://t.example/p.gif"><p>x</p>' * 5_000, 10_000),
    ],
)
def test_html_is_cut_within_the_limit_and_stays_balanced(html: str, limit: int) -> None:
    clean, cut = sanitize_html_within(html, limit)
    assert cut and 0 < len(clean) <= limit
    for tag in ("p", "b", "a", "div", "table", "td"):
        assert clean.count(f"<{tag}>") + clean.count(f"<{tag} ") == clean.count(f"</{tag}>"), tag
    assert ' src="' not in clean


def test_html_within_the_limit_is_not_cut() -> None:
    assert sanitize_html_within("<p>short</p>", 100) == ("<p>short</p>", False)

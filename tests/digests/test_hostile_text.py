"""Hostile text in a digest is inert (DECISIONS.md §11, issue 11 item 4).

An exec id or order ref from a Flex file reaches an alert message, then the digest markdown; a
legacy digest file is imported whole. Whatever that text holds, the dashboard, the Digest admin
page and the weekly review show it as text: no javascript:/data:/vbscript: link, no <script>,
no on* attribute, and no tag outside the digest's allow-list.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from html.parser import HTMLParser

import pytest
from django.urls import reverse

from dspops.core.alerts import raise_alert
from digests.models import Digest, DigestSource
from digests.services import generate_digest
from dspops.legacy_import import import_legacy

# A Tuesday session, 16:30 New York: when the digest task would run.
TUESDAY_EVENING = datetime(2026, 11, 24, 21, 30, tzinfo=timezone.utc)
LEGACY_DAY = date(2026, 1, 12)

# What the digest's HTML may hold, written out here independently of dspops.core.sanitize.
ALLOWED_TAGS = {"h1", "h2", "h3", "h4", "p", "ul", "ol", "li", "code", "pre", "strong", "em", "table", "thead",
                "tbody", "tr", "th", "td", "blockquote", "hr", "br", "a"}
VOID_TAGS = {"br", "hr", "img", "input", "meta", "link", "area", "base", "col", "embed", "source", "track", "wbr"}

# An exec id and an order ref as a hostile Flex file could carry them, in one alert message.
HOSTILE_MESSAGE = (
    "Fill exec id [exec-link](javascript:alert(1)) with order ref [order-ref](&#106;avascript:alert(2)) "
    "was not matched; see [ref-link][evil] and <a href=\"javascript:alert(3)\">raw-anchor</a>. "
    "<script>alert('from-the-data')</script> <img src=x onerror=alert(4)> "
    "[data-link](data:text/html;base64,PHNjcmlwdD5hbGVydCg1KTwvc2NyaXB0Pg==) [vb-link](vbscript:msgbox(6))\n\n"
    "[evil]: javascript:alert(7)"
)

LEGACY_MARKDOWN = """# DSP-100K Daily Digest — 2026-01-12

Generated: `2026-01-12T16:30:00`

## Sleeve VRP-CS (Calendar Spread)
- Entry spread: `1.63` | Current spread: `1.64` | P&L: `+$1.50`

## Alerts
- 🔴 CRITICAL `stale`: [legacy-link](javascript:alert('legacy'))
- raw <a href="javascript:alert(2)">raw-anchor</a> and <img src=x onerror=alert(3)>
- entity [legacy-entity](&#106;avascript:alert(4)), tab [legacy-tab](java&#x09;script:alert(5)), [legacy-ref][evil]
- autolink <javascript:alert(6)> and [legacy-data](data:text/html,hi) and [legacy-vb](VBScript:msgbox(7))

<script>alert('legacy-script')</script>

<div onclick="alert(8)">legacy-block</div>

[evil]: javascript:alert(9)
"""


@dataclass
class Fragment:
    """The tags, attributes and text inside the first element that `match` accepts."""

    found: bool = False
    tags: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    text: str = ""

    @property
    def hrefs(self) -> list[str]:
        return [attrs["href"] for tag, attrs in self.tags if attrs.get("href") is not None]


class _Scanner(HTMLParser):
    def __init__(self, match):
        super().__init__(convert_charrefs=True)
        self.match, self.depth, self.done = match, 0, False
        self.fragment = Fragment()
        self._text: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = {name: value or "" for name, value in attrs}  # values arrive with entities decoded
        if self.depth:
            self.fragment.tags.append((tag, attrs))
            if tag not in VOID_TAGS:
                self.depth += 1
        elif not self.done and self.match(tag, attrs):
            self.fragment.found, self.depth = True, 1

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if self.depth and tag not in VOID_TAGS:
            self.depth -= 1

    def handle_endtag(self, tag):
        if self.depth and tag not in VOID_TAGS:
            self.depth -= 1
            if not self.depth:
                self.done = True

    def handle_data(self, data):
        if self.depth:
            self._text.append(data)

    def scan(self, page: str) -> Fragment:
        self.feed(page)
        self.close()
        self.fragment.text = "".join(self._text)
        return self.fragment


def fragment(page: str, *, id: str | None = None, css_class: str | None = None) -> Fragment:
    def match(tag, attrs):
        if id is not None:
            return attrs.get("id") == id
        return css_class in attrs.get("class", "").split()

    return _Scanner(match).scan(page)


def dangerous_scheme(href: str) -> bool:
    """What a browser would take as the scheme: control characters and whitespace dropped, any case."""
    squeezed = re.sub(r"[\x00-\x20\x7f]", "", html.unescape(href)).lower()
    return squeezed.startswith(("javascript:", "data:", "vbscript:"))


def assert_inert(part: Fragment, *, visible: list[str], digest_tags_only: bool = True):
    assert part.found, "the digest's container is not on the page"
    for tag, attrs in part.tags:
        handlers = [name for name in attrs if name.lower().startswith("on")]
        assert not handlers, (tag, attrs)
        assert tag not in {"script", "img", "iframe", "object", "embed", "style", "svg", "form"}, (tag, attrs)
        if digest_tags_only:
            assert tag in ALLOWED_TAGS, (tag, attrs)
    bad = [href for href in part.hrefs if dangerous_scheme(href)]
    assert not bad, bad
    for text in visible:
        assert text in part.text, (text, part.text)


# The visible text of HOSTILE_MESSAGE once rendered: link texts stay, raw HTML shows as text.
HOSTILE_VISIBLE = ["Fill exec id", "exec-link", "order-ref", "ref-link", "raw-anchor", "data-link", "vb-link",
                   "<script>alert('from-the-data')</script>", "<img src=x onerror=alert(4)>", "was not matched"]
LEGACY_VISIBLE = ["Sleeve VRP-CS (Calendar Spread)", "1.63", "legacy-link", "raw-anchor", "legacy-entity", "legacy-tab",
                  "legacy-ref", "legacy-data", "legacy-vb", "legacy-block", "<script>alert('legacy-script')</script>"]


@pytest.fixture
def tuesday(time_machine):
    time_machine.move_to(TUESDAY_EVENING, tick=False)
    return TUESDAY_EVENING


@pytest.fixture
def hostile_digest(booted, tuesday):
    """An alert carrying hostile exec id / order ref text, and the digest built from it."""
    raise_alert(code="orphan_leg", subject="exec 0001", severity="critical", message=HOSTILE_MESSAGE)
    digest = generate_digest(write_file=False)
    assert "[exec-link](javascript:alert(1))" in digest.markdown  # the text reaches the digest as it came
    return digest


def test_an_alert_with_hostile_text_is_inert_in_the_dashboards_latest_digest(operator_client, hostile_digest):
    page = operator_client.get(reverse("admin:index")).content.decode()

    latest = fragment(page, id="latest-digest")
    assert_inert(latest, visible=HOSTILE_VISIBLE, digest_tags_only=False)  # the panel also holds its own links
    assert_inert(fragment(page, css_class="digest-body"), visible=HOSTILE_VISIBLE)
    assert not re.search(r"<script[^>]*>[^<]*from-the-data", page, re.IGNORECASE)  # no script from the data
    # The legacy layout is kept: H2 sections, values in backticks.
    assert ("h2", {}) in latest.tags and ("code", {}) in latest.tags
    assert "Vol-Target Overlay" in latest.text and "orphan_leg" in latest.text


def test_an_alert_with_hostile_text_is_inert_on_the_digest_admin_page(operator_client, hostile_digest):
    response = operator_client.get(reverse("admin:digests_digest_change", args=[hostile_digest.pk]))
    assert response.status_code == 200

    assert_inert(fragment(response.content.decode(), css_class="digest"), visible=HOSTILE_VISIBLE)


def test_an_alert_with_hostile_text_is_inert_in_the_weekly_review(operator_client, hostile_digest):
    response = operator_client.get(reverse("admin:dashboard_weekly_review"))
    assert response.status_code == 200

    review = fragment(response.content.decode(), id="weekly-review")
    assert_inert(review, visible=HOSTILE_VISIBLE)
    assert "Alerts this week" in review.text and "orphan_leg" in review.text


def _legacy_digest_from_import(tmp_path) -> Digest:
    folder = tmp_path / "legacy" / "daily_digest"
    folder.mkdir(parents=True)
    (folder / f"digest_{LEGACY_DAY}.md").write_text(LEGACY_MARKDOWN, encoding="utf-8")
    import_legacy(directory=tmp_path / "legacy", now=TUESDAY_EVENING)
    return Digest.objects.get(trading_date=LEGACY_DAY)


def _legacy_digest_from_the_model(tmp_path) -> Digest:
    return Digest.objects.create(trading_date=LEGACY_DAY, markdown=LEGACY_MARKDOWN, source=DigestSource.LEGACY,
                                 generated_at=datetime(2026, 1, 12, 21, 30, tzinfo=timezone.utc),
                                 note="Imported from the legacy daily_digest/digest_2026-01-12.md.")


@pytest.mark.parametrize("make", [_legacy_digest_from_import, _legacy_digest_from_the_model], ids=["import", "model"])
def test_a_hostile_legacy_digest_is_inert_on_the_digest_page_and_the_dashboard(operator_client, tuesday, tmp_path,
                                                                               make):
    digest = make(tmp_path)
    assert digest.source == DigestSource.LEGACY

    page = operator_client.get(reverse("admin:digests_digest_change", args=[digest.pk])).content.decode()
    shown = fragment(page, css_class="digest")
    assert_inert(shown, visible=LEGACY_VISIBLE)
    assert ("h2", {}) in shown.tags and ("code", {}) in shown.tags  # the legacy layout still renders

    assert_inert(fragment(operator_client.get(reverse("admin:index")).content.decode(), css_class="digest-body"),
                 visible=LEGACY_VISIBLE)


# --- the sanitizer itself ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", [
    "[x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "[x](&#106;avascript:alert(1))",
    "[x](&#x6A;avascript:alert(1))",
    "[x](java&#x09;script:alert(1))",
    "[x](javascript&colon;alert(1))",
    "[x]( javascript:alert(1))",
    "[x](<javascript:alert(1)>)",
    "[x][r]\n\n[r]: javascript:alert(1)",
    "[x](data:text/html,<script>alert(1)</script>)",
    "[x](vbscript:msgbox(1))",
    "<a href=\"javascript:alert(1)\">x</a>",
    "<javascript:alert(1)>",
    "![x](javascript:alert(1))",
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<div onclick=\"alert(1)\">\nx\n</div>",
    "<svg onload=alert(1)>",
    "<iframe src=\"javascript:alert(1)\"></iframe>",
    "[x](https://example.com \"t\\\" onmouseover=alert(1) \\\"\")",
])
def test_the_sanitizer_leaves_no_script_no_handler_and_no_dangerous_link(text):
    from dspops.core.sanitize import markdown_to_safe_html

    out = str(markdown_to_safe_html(f"## Alerts\n\n- {text}\n"))
    part = fragment(f"<div class=\"probe\">{out}</div>", css_class="probe")
    assert_inert(part, visible=["Alerts"])


def test_the_sanitizer_keeps_safe_links_and_the_digest_markup():
    from dspops.core.sanitize import markdown_to_safe_html

    out = str(markdown_to_safe_html(
        "# Title\n\nGenerated: `2026-01-12T16:30:00-05:00`\n\n## Alerts\n"
        "- **Bold** and *em*: `a<b & c` [docs](https://example.com/x \"tip\") [mail](mailto:ops@example.com)\n"
        "- VIX < 20 & VVIX > 80\n\n> quoted\n\n---\n\n    code block\n"))
    assert "<h1>Title</h1>" in out and "<h2>Alerts</h2>" in out
    assert "<code>2026-01-12T16:30:00-05:00</code>" in out
    assert "<code>a&lt;b &amp; c</code>" in out and "VIX &lt; 20 &amp; VVIX &gt; 80" in out
    assert '<a href="https://example.com/x" title="tip" rel="noopener noreferrer">docs</a>' in out
    assert '<a href="mailto:ops@example.com" rel="noopener noreferrer">mail</a>' in out
    assert "<strong>Bold</strong>" in out and "<em>em</em>" in out
    assert "<blockquote>" in out and "<hr>" in out and "<pre><code>code block" in out

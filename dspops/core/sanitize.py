"""Markdown from a file, the broker or a form, rendered to HTML that is inert (DECISIONS.md §11).

The one way dspops turns markdown into HTML a page may show unescaped. Every digest, legacy
digest and weekly review goes through ``markdown_to_safe_html``; nothing else calls
``markdown.markdown`` or ``mark_safe`` on text that came from outside.

Two layers:

1. Markdown with raw HTML switched off. A ``<script>``, ``<img onerror=…>`` or
   ``<a href="javascript:…">`` written in the text is shown as the text it is (escaped), never
   passed through as a tag. Values in backticks, H2 sections and bullet lists render as before.
2. The resulting HTML is cleaned with nh3 (ammonia) against an allow-list: only the tags a
   digest uses, ``href``/``title`` on links only, and links only to http, https and mailto.
   A ``javascript:``, ``data:`` or ``vbscript:`` link, however it is spelt (entities such as
   ``&#106;avascript:``, tabs, mixed case, a reference link, an autolink), loses its href and
   keeps its text. Every surviving link gets ``rel="noopener noreferrer"``.
"""

from __future__ import annotations

import markdown
import nh3
from django.utils.safestring import SafeString, mark_safe

__all__ = ["ALLOWED_ATTRIBUTES", "ALLOWED_TAGS", "ALLOWED_URL_SCHEMES", "markdown_to_safe_html", "sanitize_html"]

ALLOWED_TAGS = frozenset({
    "h1", "h2", "h3", "h4", "p", "ul", "ol", "li", "code", "pre", "strong", "em",
    "table", "thead", "tbody", "tr", "th", "td", "blockquote", "hr", "br", "a",
})
# "*": no attribute on every tag (nh3 would otherwise keep lang and title everywhere).
ALLOWED_ATTRIBUTES = {"*": frozenset(), "a": frozenset({"href", "title"})}
ALLOWED_URL_SCHEMES = frozenset({"http", "https", "mailto"})
LINK_REL = "noopener noreferrer"

MARKDOWN_EXTENSIONS = ("sane_lists",)


def _markdown_without_raw_html() -> markdown.Markdown:
    md = markdown.Markdown(extensions=list(MARKDOWN_EXTENSIONS))
    # Raw HTML blocks and inline tags become text (escaped by the serializer) instead of markup.
    md.preprocessors.deregister("html_block")
    md.inlinePatterns.deregister("html")
    return md


def sanitize_html(html: str) -> SafeString:
    """HTML cleaned against the digest allow-list, marked safe for a template."""
    cleaned = nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        clean_content_tags={"script", "style"},
        attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(ALLOWED_URL_SCHEMES),
        link_rel=LINK_REL,
        strip_comments=True,
    )
    return mark_safe(cleaned)  # noqa: S308 - the output of nh3 with the allow-list above


def markdown_to_safe_html(text: str) -> SafeString:
    """Render ``text`` (markdown) and sanitize the HTML: safe to show whatever the text holds."""
    return sanitize_html(_markdown_without_raw_html().convert(text or ""))

"""Small presentation helpers shared by the admin pages."""

from django.utils.html import format_html, format_html_join


def mapping_table(mapping) -> str:
    """A dict (e.g. a run's inputs) as a readable two-column table; nested values as text."""
    if not mapping:
        return format_html("<em>{}</em>", "none")
    if not isinstance(mapping, dict):
        return format_html("<code>{}</code>", mapping)
    rows = format_html_join(
        "", "<tr><th style='text-align:left;padding-right:1em'>{}</th><td>{}</td></tr>",
        ((key, _text(value)) for key, value in mapping.items()),
    )
    return format_html("<table>{}</table>", rows)


def _text(value) -> str:
    if value is None:
        return "missing"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_text(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return "; ".join(_text(v) for v in value) or "none"
    return str(value)

"""Email backends."""

import sys

from django.core.mail.backends.console import EmailBackend as ConsoleBackend


class StderrEmailBackend(ConsoleBackend):
    """The development default (no EMAIL_URL): an email is not sent but noted, as one line on stderr.

    stderr, so it never mixes into a command's JSON on stdout; one line (who, and the subject), not the raw
    MIME message (headers, a Message-ID, a 79-dash separator), because the body is the alert's message, which
    the command or the page that raised it has just said, and the admin's Alerts list keeps it in full.
    """

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("stream", sys.stderr)
        super().__init__(*args, **kwargs)

    def write_message(self, message):
        to = ", ".join(message.recipients()) or "nobody"
        subject = " ".join(str(message.subject).split())
        self.stream.write(f"email to {to} (not sent: no EMAIL_URL): {subject}\n")

"""Console emails do not dump raw MIME into a command's output (issue 15, item 8). Without EMAIL_URL a critical
alert's email is noted as one line on stderr: who it was for and its subject."""

import io

from django.core import mail

from dspops.mail import StderrEmailBackend


def test_the_development_backend_writes_one_line_per_email_and_no_mime():
    stream = io.StringIO()
    backend = StderrEmailBackend(stream=stream)
    sent = backend.send_messages([
        mail.EmailMessage("[dspops CRITICAL] broker_unavailable", "The broker could not be read ...\n" * 3,
                          "dspops@localhost", ["ops@example.com", "operator@localhost"]),
        mail.EmailMessage("[dspops CRITICAL] cs_gate: VRP-CS", "VRP-CS gate is UNKNOWN ...", "dspops@localhost",
                          ["ops@example.com"]),
    ])
    assert sent == 2
    assert stream.getvalue().splitlines() == [
        "email to ops@example.com, operator@localhost (not sent: no EMAIL_URL): [dspops CRITICAL] broker_unavailable",
        "email to ops@example.com (not sent: no EMAIL_URL): [dspops CRITICAL] cs_gate: VRP-CS",
    ]
    for raw in ("Content-Type", "MIME-Version", "Message-ID", "-" * 79, "The broker could not be read"):
        assert raw not in stream.getvalue()


def test_an_alert_without_a_subject_has_no_dangling_colon(db, mailoutbox, django_capture_on_commit_callbacks):
    from dspops.core.alerts import raise_alert
    from dspops.core.models import Severity

    with django_capture_on_commit_callbacks(execute=True):  # emailed once its transaction commits
        raise_alert(code="broker_unavailable", subject="", severity=Severity.CRITICAL,
                    message="The broker could not be read.")
    assert [m.subject for m in mailoutbox] == ["[dspops CRITICAL] broker_unavailable"]

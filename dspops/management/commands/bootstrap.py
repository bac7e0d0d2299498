from django.core.management.base import CommandError

from dspops.core.commands import OperationalCommand
from dspops.core.errors import OperatorError
from dspops.bootstrap import bootstrap
from dspops.demo import load_demo


class Command(OperationalCommand):
    help = (
        "Create the sleeves, their settings, the instruments, the roll calendar, the Operator and "
        "Viewer groups and (if there is no user yet) an operator account. Idempotent: it never "
        "overwrites what an operator edited."
    )

    def add_arguments(self, parser):
        parser.add_argument("--demo", action="store_true", help="Also add a small demo history.")

    def handle(self, *args, demo=False, **options):
        try:
            report = bootstrap()
        except OperatorError as exc:  # BootstrapError: a config file; OutOfBounds: a value in it
            raise CommandError(str(exc)) from None
        for line in report.created:
            self.stdout.write(f"created {line}")
        if not report.created:
            self.stdout.write("bootstrap: nothing to create, everything is in place.")
        if demo:
            for line in load_demo():
                self.stdout.write(f"demo: {line}")
        if report.operator_password:
            self.stdout.write(self.style.WARNING(
                "\nOperator account created. It is shown once; store it now:\n"
                f"  user: operator\n  password: {report.operator_password}\n"
                "Change it after logging in (top right, 'Change password')."
            ))

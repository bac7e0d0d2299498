import time
from contextlib import ExitStack

from dspops.core import clock
from dspops.core.broker.config import GatewayConfig
from dspops.core.broker.gateway import wait_for_tws
from dspops.core.commands import OperationalCommand
from dspops.jobs import BROKER_DOWN, broker_session, warm_up


class Command(OperationalCommand):
    help = (
        "Bring a freshly started dspops up to date from the broker, on one connection: read it, import recent "
        "executions, update the vol-target overlay, run both monitors and reconcile. `make run` runs it next to "
        "the simulator. Each step reports; a step that fails does not stop the others."
    )

    def add_arguments(self, parser):
        parser.add_argument("--wait", type=float, default=0,
                            help="Keep trying for this many seconds while the broker is not up yet.")
        parser.add_argument("--stay", action="store_true",
                            help="Stay idle afterwards (for a Procfile process, which must keep running).")

    def handle(self, *args, wait=0, stay=False, **options):
        # `make run` starts this next to the simulator, which needs a moment to listen. Probe its port quietly
        # first (one progress line), so a normal start never tries the API before there is one and prints no
        # connection failure; the API session then keeps retrying only for what is left of --wait. Without
        # --wait there is nothing to wait for: one API attempt says whatever is wrong.
        started = time.monotonic()
        if wait > 0:
            wait_for_tws(GatewayConfig.from_settings("shell"), wait,
                         say=lambda line: self.stdout.write(f"warm-up: {line}"))
        left = max(wait - (time.monotonic() - started), 0)
        with ExitStack() as stack:
            try:
                session = stack.enter_context(broker_session("shell", requested_by="warm-up", wait=left))
            except BROKER_DOWN as exc:
                self.stderr.write(f"warm-up: the broker could not be read: {exc}")
                return self._idle(stay)
            snapshot = session.snapshot
            mark = " (SIMULATED BROKER)" if snapshot.simulated else ""
            self.stdout.write(f"warm-up: read {snapshot.account}{mark}: {len(snapshot.positions)} positions")
            # Every step acts on the current session: today's, or on a closed day the last one, and says so.
            self.stdout.write(f"warm-up: session {clock.acting_session().label()}")
            for step in warm_up(session):
                if step.error:
                    self.stderr.write(f"warm-up: {step.name} failed: {step.error}")
                else:
                    self.stdout.write(f"warm-up: {step.name}: {step.summary}")
        return self._idle(stay)

    def _idle(self, stay: bool) -> None:
        if not stay:
            return
        self.stdout.write("warm-up done; idle until stopped.")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass

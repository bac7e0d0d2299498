import time
from datetime import timedelta

from django.core.management.base import BaseCommand

from dspops.core import clock
from dspops.core.broker_sync import GatewayError, refresh_broker_snapshot
from sleeves.selectors import watched_instruments


class Command(BaseCommand):
    help = (
        "Bring a freshly started dspops up to date from the broker: read it, import recent executions, update "
        "the vol-target overlay, run both monitors and reconcile. `make run` runs it next to the simulator. "
        "Each step reports; a step that fails does not stop the others."
    )

    def add_arguments(self, parser):
        parser.add_argument("--wait", type=float, default=0,
                            help="Keep trying for this many seconds while the broker is not up yet.")
        parser.add_argument("--stay", action="store_true",
                            help="Stay idle afterwards (for a Procfile process, which must keep running).")

    def handle(self, *args, wait=0, stay=False, **options):
        from sleeves.fill_import import FillImportError, sync_fills
        from sleeves.monitors import run_vol_target, run_vrp_cs_monitor, run_vrp_erp_monitor
        from sleeves.reconcile import ReconcileError, reconcile

        deadline = time.monotonic() + wait
        while True:
            try:
                snapshot = refresh_broker_snapshot(instruments=watched_instruments(), role="shell", requested_by="warm-up")
                break
            except GatewayError as exc:
                if time.monotonic() >= deadline:
                    self.stderr.write(f"warm-up: the broker could not be read: {exc}")
                    return self._idle(stay)
                time.sleep(1)
        mark = " (SIMULATED BROKER)" if snapshot.simulated else ""
        self.stdout.write(f"warm-up: read {snapshot.account}{mark}: {len(snapshot.positions)} positions")
        # Every step acts on the current session: today's, or on a closed day the last one, and says so.
        self.stdout.write(f"warm-up: session {clock.acting_session().label()}")
        steps = (
            ("fill sync", lambda: sync_fills(since=clock.now() - timedelta(days=7), triggered_by="warm-up"),
             lambda r: f"{r.created} new, {r.skipped} known, {len(r.unattributed)} unattributed"),
            ("vol target", lambda: run_vol_target(live=True, triggered_by="warm-up"),
             lambda r: f"{r.payload['data_status']}, multiplier {r.payload['multiplier']}"),
            ("VRP-ERP monitor", lambda: run_vrp_erp_monitor(live=True, triggered_by="warm-up"),
             lambda r: f"{r.payload['data_status']}, regime {r.payload['regime']}"),
            ("VRP-CS monitor", lambda: run_vrp_cs_monitor(live=True, triggered_by="warm-up"),
             lambda r: f"{r.payload['data_status']}, gate {r.payload['gate_state']}"),
            ("reconciliation", lambda: reconcile(triggered_by="warm-up"),
             lambda r: "positions match the broker" if r.ok else f"{len(r.breaks)} break(s)"),
        )
        for name, run, summary in steps:
            try:
                self.stdout.write(f"warm-up: {name}: {summary(run())}")
            except (FillImportError, ReconcileError, GatewayError) as exc:
                self.stderr.write(f"warm-up: {name} failed: {exc}")
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

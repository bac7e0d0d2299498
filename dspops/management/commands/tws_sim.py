"""python manage.py tws_sim [--host 127.0.0.1] [--port 7497] [--scenario NAME|PATH]

Runs the TWS simulator in the foreground until Ctrl-C. It listens on loopback only.
"""

from __future__ import annotations

import logging
import sys

from django.conf import settings
from django.core.management.base import CommandError

from dspops.core.commands import OperationalCommand
from dspops.simulator import (
    ScenarioError,
    SimulatorServer,
    available_scenarios,
    check_loopback,
    load_scenario,
)


class Command(OperationalCommand):
    help = (
        "Run the TWS API simulator (server version 176) in the foreground, serving a scenario "
        "(docs/simulator.md). Loopback addresses only. Ctrl-C stops it."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind (127.0.0.0/8 or ::1)")
        parser.add_argument(
            "--port", type=int, default=None, help="TCP port (default: IB_PORT, 7497); 0 picks a free port"
        )
        parser.add_argument(
            "--scenario",
            default=None,
            help=f"scenario name ({', '.join(available_scenarios())}) or path to a YAML file "
            "(default: IB_SIM_SCENARIO)",
        )

    def handle(self, *args, host, port, scenario, **options):
        try:
            host = check_loopback(host)
        except ValueError as exc:
            raise CommandError(str(exc), returncode=2) from None  # a usage error, like every command's
        if port is None:
            port = int(getattr(settings, "IB_PORT", 7497))
        if not 0 <= port <= 65535:
            raise CommandError(f"--port must be 0..65535, got {port}", returncode=2)
        name = scenario or getattr(settings, "IB_SIM_SCENARIO", "calm_contango")
        try:
            sc = load_scenario(name)
        except ScenarioError as exc:  # an unknown name or a file that cannot be a scenario: --scenario is wrong
            raise CommandError(str(exc), returncode=2) from None

        verbosity = int(options.get("verbosity", 1))
        handler = logging.StreamHandler(self.stdout._out if hasattr(self.stdout, "_out") else sys.stdout)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
        sim_log = logging.getLogger("dspops.simulator")
        sim_log.addHandler(handler)
        sim_log.setLevel(logging.INFO if verbosity >= 1 else logging.WARNING)
        sim_log.propagate = False

        try:
            server = SimulatorServer(sc, host=host, port=port)
        except ValueError as exc:
            raise CommandError(str(exc)) from None

        def ready(srv: SimulatorServer) -> None:
            self.stdout.write(srv.describe())
            self.stdout.write(f"listening on {srv.host}:{srv.port}; Ctrl-C stops the simulator")
            self.stdout.flush()

        try:
            server.serve_forever(on_ready=ready)
        except OSError as exc:
            raise CommandError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        finally:
            sim_log.removeHandler(handler)
        self.stdout.write("TWS simulator stopped")

"""A quiet start (issue 15, item 8): `make run` starts warm_up next to the simulator, which needs a moment to
listen. warm_up probes the port quietly and connects once it is up, so a normal start logs no connection failure;
a broker that is really down is said once, by dspops, not again by ib_insync on every attempt."""

import io
import logging
import socket
import threading

import pytest
from django.core.management import call_command

from dspops.core.broker.config import GatewayConfig
from dspops.core.broker.gateway import Gateway, GatewayError, tws_listening, wait_for_tws


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _connect_failures(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name.startswith("ib_insync") and r.levelno >= logging.ERROR]


def test_a_refused_connection_is_one_gateway_error_and_no_ib_insync_error_lines(caplog):
    caplog.set_level(logging.INFO)
    port = _free_port()
    with pytest.raises(GatewayError, match="connection refused"):
        Gateway(GatewayConfig("127.0.0.1", port, client_id=7, connect_timeout=2.0)).connect()
    assert _connect_failures(caplog) == []


def test_wait_for_tws_probes_without_an_api_session_and_says_one_line():
    port = _free_port()
    said = []
    assert not wait_for_tws(GatewayConfig("127.0.0.1", port, client_id=7), 0.6, say=said.append)
    assert said == [f"waiting for TWS at 127.0.0.1:{port}… (up to 0.6s)"]
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", port))
        listener.listen()
        said.clear()
        assert tws_listening("127.0.0.1", port)
        assert wait_for_tws(GatewayConfig("127.0.0.1", port, client_id=7), 5, say=said.append)
        assert said == []  # already up: nothing to say


@pytest.mark.django_db
def test_warm_up_next_to_a_simulator_that_starts_late_logs_no_connection_failure(settings, caplog):
    from dspops.simulator import SimulatorServer, load_scenario

    caplog.set_level(logging.INFO)
    call_command("bootstrap", "--demo", stdout=io.StringIO())
    port = _free_port()
    settings.IB_HOST, settings.IB_PORT = "127.0.0.1", port
    settings.IB_CONNECT_TIMEOUT, settings.IB_REQUEST_TIMEOUT = 5.0, 5.0
    server = SimulatorServer(load_scenario("calm_contango"), host="127.0.0.1", port=port)
    late = threading.Timer(1.5, server.start)
    late.start()
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("warm_up", "--wait", "20", stdout=out, stderr=err)
    finally:
        late.cancel()
        late.join()
        server.stop()
    text = out.getvalue()
    assert text.count("waiting for TWS at") == 1
    assert "(SIMULATED BROKER): 7 positions" in text
    assert server.accepted_connections == 2  # the quiet probe, then one API session once the port listened
    assert _connect_failures(caplog) == []
    assert "could not be read" not in err.getvalue()

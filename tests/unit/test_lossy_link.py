"""`loss=P` on the virtual phone (harness/virtual/lossylink.py): a lost message arrives after
TCP's retransmission timeouts, 200 ms doubling per loss in a row; five losses of one message in
a row end the connection with a reset that the peer reads as ECONNRESET."""
from __future__ import annotations

import random
import socket
from types import SimpleNamespace

import pytest

from harness.errors import UsageError
from harness.virtual import adbd
from harness.virtual.device import Faults
from harness.virtual.lossylink import RESET_AFTER, LossyDirection, parse_loss


class Scripted(random.Random):
    """Draws in a given order: below P is a loss, above it a transmission that got through."""

    def __init__(self, draws):
        super().__init__(0)
        self.draws = list(draws)

    def random(self):
        return self.draws.pop(0)


def test_each_loss_in_a_row_doubles_the_retransmission_timeout():
    direction = LossyDirection(Scripted([0.9, 0.1, 0.9, 0.1, 0.1, 0.1, 0.9]))
    assert direction.hold(0.5) == (0.0, False)                    # on time
    assert direction.hold(0.5) == (pytest.approx(0.2), False)     # lost once: one RTO
    assert direction.hold(0.5) == (pytest.approx(0.2 + 0.4 + 0.8), False)  # lost three times
    assert direction.lost == 4 and direction.resets == 0


def test_a_message_lost_too_often_in_a_row_ends_the_link_after_the_retries():
    direction = LossyDirection(Scripted([0.0] * RESET_AFTER))
    late, give_up = direction.hold(0.3)
    assert give_up and late == pytest.approx(0.2 + 0.4 + 0.8 + 1.6 + 3.2)
    assert direction.resets == 1
    assert LossyDirection(Scripted([])).hold(0.0) == (0.0, False)  # no fault: no draw at all


def test_loss_fault_values():
    assert Faults.parse(["loss=0.05"]).loss == 0.05 and parse_loss("0") == 0.0
    for bad in ("loss=1", "loss=-0.1", "loss=often", "loss="):
        with pytest.raises(UsageError, match="unknown fault"):
            Faults.parse([bad])


def test_a_reset_link_is_a_tcp_reset_for_the_peer(monkeypatch):
    slept = []
    monkeypatch.setattr(adbd.time, "sleep", slept.append)
    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(listener.getsockname())
    server, _ = listener.accept()
    device = SimpleNamespace(faults=Faults.parse(["loss=0.5"]), touch=lambda: None)
    conn = adbd.AdbConnection(server, device, open_service=lambda service: None)
    conn.outbound = LossyDirection(Scripted([0.9, 0.0, 0.9] + [0.0] * RESET_AFTER))
    conn.send(adbd.A_OKAY, 1, 2)                  # through at once
    conn.send(adbd.A_OKAY, 1, 2)                  # lost once, then through
    assert slept == [pytest.approx(0.2)]
    with pytest.raises(adbd.ConnectionClosed, match="connection reset"):
        conn.send(adbd.A_OKAY, 1, 2)
    assert slept[-1] == pytest.approx(6.2) and conn.closed.is_set()
    client.settimeout(5)
    received = b""
    with pytest.raises(ConnectionResetError):
        while True:  # the two messages that got through, then the reset (no FIN: no b"")
            chunk = client.recv(4096)
            assert chunk, "the link ended with a FIN, not a reset"
            received += chunk
    assert len(received) == 2 * adbd.HEADER.size
    client.close()
    listener.close()

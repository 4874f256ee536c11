"""``loss=P``: a link that drops packets, played the way a TCP connection shows it to its ends.

Loopback TCP never loses a segment, and if it did the kernel would hide the loss: the ends only
see its consequences. Those are played here, per adb message and direction:

- a lost message is retransmitted after the retransmission timeout (RTO). Linux never waits less
  than 200 ms (TCP_RTO_MIN) and doubles the RTO for each further loss of the same data
  (exponential backoff, RFC 6298 5.5), so a message lost k times in a row arrives
  200 * (2^k - 1) ms late;
- TCP delivers in order, so every message behind a held one waits too (head-of-line blocking:
  the caller holds the connection's send lock, or its reader, while it waits);
- a link that loses too much ends the connection: after ``RESET_AFTER`` losses of one message in
  a row the sender gives up and the connection is reset, as a real stack does once its retries
  run out (tcp_retries2; compressed here: 5 tries, 6.2 s, not 15 tries and 15 minutes).

With P = 0.05 about one message in twenty is 200 ms late (one in 3 million ends the link); with
P = 0.5 one message in 32 resets the connection, so a long cell rarely survives.
"""
from __future__ import annotations

import random
import threading

RTO_MIN_S = 0.2     # Linux TCP_RTO_MIN
RTO_MAX_S = 120.0   # Linux TCP_RTO_MAX (not reached within RESET_AFTER doublings)
RESET_AFTER = 5     # losses of one message in a row after which the sender gives up


def parse_loss(text: str) -> float:
    """``P`` of ``loss=P``: a probability of losing each transmission, 0 <= P < 1."""
    value = float(text)  # ValueError for the caller to word
    if not 0.0 <= value < 1.0:
        raise ValueError(f"loss={text}: a probability 0 <= P < 1")
    return value


class LossyDirection:
    """The losses of one direction of one connection (each side retransmits its own data)."""

    def __init__(self, rng: random.Random | None = None):
        self._rng = rng or random.Random()
        self._lock = threading.Lock()  # a connection's writers share their direction
        self.lost = 0       # transmissions lost so far (what a test or a person can read)
        self.resets = 0

    def hold(self, probability: float) -> tuple[float, bool]:
        """(seconds the next message arrives late, whether the sender then gives up): losses
        of one message in a row cost 200 ms, 400 ms, ...; the RESET_AFTER-th ends the link
        after the same waits (the retries a real stack makes before it gives up)."""
        if probability <= 0.0:
            return 0.0, False
        late, rto = 0.0, RTO_MIN_S
        with self._lock:
            for _ in range(RESET_AFTER):
                if self._rng.random() >= probability:
                    return late, False  # this transmission got through
                self.lost += 1
                late += rto
                rto = min(rto * 2, RTO_MAX_S)
            self.resets += 1
            return late, True

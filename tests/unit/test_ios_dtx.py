"""The virtual iPhone's DTX framing (harness/virtual/ios/dtx.py) read by pymobiledevice3's own DTX
decoder, and the host's messages as pymobiledevice3 builds them read by the stand-in: both
directions of the wire format, without a socket."""
from __future__ import annotations

import socket
import threading

import pytest

pytest.importorskip("pymobiledevice3", reason="the ios extra: pip install -e '.[ios]'")

from dtx_client import client_parse  # noqa: E402

from harness.virtual.ios import dtx  # noqa: E402


def test_a_call_from_the_phone_reads_as_pymobiledevice3_expects():
    wire = dtx.encode(dtx.Message(dtx.DISPATCH, 7, 0, -1, False,
                                  "processWithPID:terminatedWithExitCode:orCrashingSignal:",
                                  [401, -1, 11]))
    message = client_parse(wire)
    assert (message.identifier, message.conversation_index, message.channel_code) == (7, 0, -1)
    assert message.payload == "processWithPID:terminatedWithExitCode:orCrashingSignal:"
    assert list(message.aux) == [401, -1, 11]


def test_replies_carry_a_value_or_nothing_or_an_nserror():
    from pymobiledevice3.dtx.ns_types import NSError
    from pymobiledevice3.dtx.structs import DTXMessageType

    request = dtx.Message(dtx.DISPATCH, 5, 0, 1, True, "x")
    link = dtx.Connection(None)
    sent = []
    link.send = sent.append  # the messages, not the socket
    link.reply(request, 402)
    link.reply(request)
    link.reply_error(request, "Unable to invoke -[X y] - it does not respond to the selector")
    value, empty, error = (client_parse(dtx.encode(m)) for m in sent)
    assert (value.type, value.payload, value.conversation_index) == (DTXMessageType.OBJECT, 402, 1)
    assert empty.type == DTXMessageType.OK and len(empty.payload_data) == 0
    assert error.type == DTXMessageType.ERROR and isinstance(error.payload, NSError)
    assert error.payload.user_info["NSLocalizedDescription"].endswith(
        "it does not respond to the selector")


def test_the_hosts_launch_call_is_read_with_its_arguments():
    """pymobiledevice3 builds the call (int32 channel code, archived dicts and lists) and splits
    it into fragments when it is large; the stand-in joins and decodes it."""
    from pymobiledevice3.dtx.fragmenter import DTXFragmenter
    from pymobiledevice3.dtx.message import DTXMessage
    from pymobiledevice3.dtx.primitives import PInt32
    from pymobiledevice3.dtx.structs import DTXMessageType, DTXTransportFlags
    import asyncio

    environment = {"EDGELAB_JOB": "Documents/edgelab/job.json", "BIG": "x" * 300_000}
    message = DTXMessage(type=DTXMessageType.DISPATCH, identifier=3, channel_code=1,
                         transport_flags=DTXTransportFlags.EXPECTS_REPLY)
    message.payload = ("launchSuspendedProcessWithDevicePath:bundleIdentifier:environment:"
                       "arguments:options:")
    message.aux = ["", "org.edgelab.EdgelabRunner", environment, [],
                   {"StartSuspendedKey": False, "KillExisting": True}, PInt32(9)]

    async def fragments() -> bytes:
        out = b""
        async for fragment in DTXFragmenter.fragment(*message.chunks()):
            fragment.identifier, fragment.channel_code = 3, 1
            fragment.flags = DTXTransportFlags.EXPECTS_REPLY
            out += b"".join(bytes(c) for c in fragment.chunks())
        return out

    wire = asyncio.run(fragments())
    host, phone = socket.socketpair()
    with host, phone:
        def send() -> None:  # from a thread: 300 kB does not fit in the socket's buffers
            host.sendall(wire)
            host.shutdown(socket.SHUT_WR)

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        read = dtx.read_message(phone)
        assert dtx.read_message(phone) is None  # the host hung up: no message, no error
        sender.join(timeout=10)
    assert wire.count(dtx.MAGIC.to_bytes(4, "little")) > 2  # it was split
    assert (read.identifier, read.channel, read.expects_reply) == (3, 1, True)
    assert read.payload.startswith("launchSuspendedProcessWithDevicePath:")
    assert read.args == ["", "org.edgelab.EdgelabRunner", environment, [],
                         {"StartSuspendedKey": False, "KillExisting": True}, 9]


def test_garbage_is_refused_not_read():
    host, phone = socket.socketpair()
    with host, phone:
        host.sendall(b"GET / HTTP/1.1\r\n\r\n" + bytes(20))
        with pytest.raises(dtx.DtxError, match="not a DTX fragment"):
            dtx.read_message(phone)

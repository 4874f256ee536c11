"""A virtual iPhone that already trusts this computer: the keys and the pair record an earlier
pairing would have left, and the TLS the phone speaks once a session starts.

On a real phone the device key never leaves it, and the pair record (root, host and device
certificates, HostID, SystemBUID) is what the host kept after the user tapped Trust; usbmuxd
hands it out on ``ReadPairRecord``. Here the stand-in holds both halves: it makes the device key,
then the pair record with pymobiledevice3's own certificate code (``ca.generate_pairing_cert_chain``,
the libimobiledevice-compatible chain), imported only for trusted profiles. After
``StartSession`` (``EnableSessionSSL``) and on services started with ``EnableServiceSSL`` the
phone is the TLS server, with the device certificate from the record and its own key.
"""
from __future__ import annotations

import plistlib
import ssl
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from .wire import read_exact


@dataclass(frozen=True)
class DeviceKey:
    private_pem: bytes   # PKCS#8, stays in the stand-in as it stays on a phone
    public_pem: bytes    # PKCS#1 "RSA PUBLIC KEY": lockdownd's DevicePublicKey


def make_device_key() -> DeviceKey:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return DeviceKey(
        private_pem=key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()),
        public_pem=key.public_key().public_bytes(serialization.Encoding.PEM,
                                                 serialization.PublicFormat.PKCS1))


class Trust:
    """The pair record of an earlier pairing, and the phone's TLS server context."""

    def __init__(self, key: DeviceKey, wifi_address: str | None, system_buid: str):
        from pymobiledevice3.ca import generate_pairing_cert_chain

        host_cert, host_key, device_cert, root_cert, root_key = generate_pairing_cert_chain(
            key.public_pem)
        self.host_id = str(uuid.uuid4()).upper()
        self.record = {"DeviceCertificate": device_cert, "HostCertificate": host_cert,
                       "HostPrivateKey": host_key, "RootCertificate": root_cert,
                       "RootPrivateKey": root_key, "HostID": self.host_id,
                       "SystemBUID": system_buid, "WiFiMACAddress": wifi_address or ""}
        self._context = _server_context(device_cert, key.private_pem)
        # TLS 1.2 and no session tickets: nothing TLS may follow the handshake on that socket
        self._plain_after_context = _server_context(device_cert, key.private_pem)
        self._plain_after_context.maximum_version = ssl.TLSVersion.TLSv1_2
        self._plain_after_context.num_tickets = 0

    def record_bytes(self) -> bytes:
        return plistlib.dumps(self.record)

    def wrap(self, sock):
        """The phone's side of the TLS handshake the host starts on this socket."""
        return self._context.wrap_socket(sock, server_side=True)

    def handshake_only(self, sock):
        """The TLS handshake, then the same socket in plain bytes: how Instruments' remote server
        of iOS < 14 speaks (pymobiledevice3 strips TLS after the handshake for it). Read one TLS
        record at a time, so no byte of what follows the handshake is taken."""
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = self._plain_after_context.wrap_bio(incoming, outgoing, server_side=True)
        while True:
            try:
                tls.do_handshake()
                done = True
            except ssl.SSLWantReadError:
                done = False
            pending = outgoing.read()
            if pending:
                sock.sendall(pending)
            if done:
                return sock
            header = read_exact(sock, 5)
            if header is None:
                raise OSError("the host hung up during the TLS handshake")
            body = read_exact(sock, int.from_bytes(header[3:5], "big"))
            if body is None:
                raise OSError("the host hung up during the TLS handshake")
            incoming.write(header + body)


def _server_context(cert_pem: bytes, key_pem: bytes) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2  # what pymobiledevice3 offers iOS >= 5
    context.verify_mode = ssl.CERT_NONE  # the host's certificate is not checked here
    with tempfile.TemporaryDirectory() as folder:  # ssl loads chains from files only
        chain = Path(folder) / "device.pem"
        chain.write_bytes(cert_pem + b"\n" + key_pem)
        context.load_cert_chain(str(chain))
    return context

"""How pymobiledevice3's own DTX decoder reads one message the virtual iPhone wrote (the client's
side of harness/virtual/ios/dtx.py), for test_ios_dtx.py and test_ios_sysmontap.py."""
from __future__ import annotations


def client_parse(wire: bytes):
    """pymobiledevice3's reading of one single-fragment message."""
    from pymobiledevice3.dtx.fragment import DTXFragment
    from pymobiledevice3.dtx.message import DTXMessage
    from pymobiledevice3.dtx.structs import DtxFragmentHeader

    header = DtxFragmentHeader.parse(wire[:32])
    fragment = DTXFragment(index=header.index, count=header.count, data_size=header.data_size,
                           identifier=header.identifier,
                           conversation_index=header.conversation_index,
                           channel_code=header.channel_code, flags=header.flags,
                           payload=memoryview(wire[32:]))
    return DTXMessage.parse(fragment, wire[32:])

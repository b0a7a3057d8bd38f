"""Copy SIPp's RFC2833 DTMF pcaps (Debian package sip-tester, /usr/share/sip-tester) with the RTP
payload type rewritten. The shipped pcaps use PT 101, but pjsua2 2.15 offers telephone-event with
PT 120 (for /8000 when only 8 kHz codecs are enabled), and pjmedia only accepts DTMF on the PT it
offered itself -> without this rewrite pjsua2 silently ignores SIPp's DTMF.

usage: python3 make_dtmf_pcaps.py [PT=120] [outdir=.]
"""

import glob
import os
import struct
import sys
from pathlib import Path

pt = int(sys.argv[1]) if len(sys.argv) > 1 else 120
outdir = sys.argv[2] if len(sys.argv) > 2 else os.path.dirname(os.path.abspath(__file__))
for src in sorted(glob.glob("/usr/share/sip-tester/dtmf_2833_*.pcap")):
    data = bytearray(Path(src).read_bytes())
    magic = data[:4]
    endian = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    l2 = {1: 14, 113: 16, 0: 4}[linktype]  # ethernet / linux cooked / BSD loopback
    off = 24
    n = 0
    while off < len(data):
        incl = struct.unpack(endian + "I", data[off + 8 : off + 12])[0]
        pkt = off + 16
        ihl = (data[pkt + l2] & 0x0F) * 4
        udp = pkt + l2 + ihl
        data[udp + 6 : udp + 8] = b"\x00\x00"  # UDP checksum 0 = "not computed" (IPv4)
        rtp = udp + 8
        data[rtp + 1] = (data[rtp + 1] & 0x80) | pt  # keep marker bit, replace PT
        off = pkt + incl
        n += 1
    dst = os.path.join(outdir, os.path.basename(src).replace(".pcap", f"_pt{pt}.pcap"))
    Path(dst).write_bytes(data)
    print(f"{dst}: {n} packets")

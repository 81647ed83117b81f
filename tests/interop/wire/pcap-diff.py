#!/usr/bin/env python3
"""What more TPM commands one capture holds than another.

  pcap-diff.py BASE MORE

BASE and MORE are pcap TCTI captures of the same program doing 1 and 1+k
operations. Commands the TPM answered with TPM_RC_RETRY (0x922: the TPM
asked for the same command again, the client's code had no say) are left
out of the counts and reported apart. Prints four lines:
  the difference per command, "Name=n ..." sorted by name ("" if none)
  the total difference
  the total commands in BASE (what the first operation costs, process start included)
  the number of retried commands left out (both captures)"""
import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "lib"))
import importlib.util  # noqa: E402

_spec = importlib.util.spec_from_file_location(
    "tpm_pcap", os.path.join(sys.path[0], "tpm-pcap.py"))
tpm_pcap = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tpm_pcap)

TPM_RC_RETRY = 0x922


def counts(path):
    """Per-command counts of answered commands, and the number of retries."""
    c, retries, pending = {}, 0, None
    for to_tpm, payload in tpm_pcap.packets(path):
        if len(payload) < 10:
            continue
        code = struct.unpack_from(">I", payload, 6)[0]
        if to_tpm:
            pending = code
        elif pending is not None:
            if code == TPM_RC_RETRY:
                retries += 1
            else:
                c[pending] = c.get(pending, 0) + 1
            pending = None
    if pending is not None:  # a command without an answer still cost one
        c[pending] = c.get(pending, 0) + 1
    return c, retries


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    (a, ra), (b, rb) = counts(argv[1]), counts(argv[2])
    d = {}
    for cc in set(a) | set(b):
        n = b.get(cc, 0) - a.get(cc, 0)
        if n:
            d[tpm_pcap.CC_NAMES.get(cc, hex(cc))] = n
    print(" ".join(f"{k}={v}" for k, v in sorted(d.items())))
    print(sum(d.values()))
    print(sum(a.values()))
    print(ra + rb)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

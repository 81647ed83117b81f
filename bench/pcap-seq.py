#!/usr/bin/env python3
"""The TPM commands of a pcap TCTI capture in order, for the PKCS#11 login
benchmark (bench/p11-bench.sh), so a count can be traced to its cause.

  pcap-seq.py FILE     prints the total, then one line with the commands in
                       order, runs of the same command folded ("GetCapability x3");
                       GetCapability shows its capability (handles, properties,
                       algs...), TestParms its algorithm, a failed command
                       its response code ("[rc 0x922]"); then one line with the
                       count per command name, most first ("Load=2 Sign=1").
                       A missing file is 0."""
import os
import struct
import sys
import importlib.util

_lib = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "lib",
                    "tpm-pcap.py")
_spec = importlib.util.spec_from_file_location("tpm_pcap", _lib)
tpm_pcap = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tpm_pcap)

CAPS = {0: "algs", 1: "handles", 2: "commands", 5: "pcrs", 6: "properties", 8: "curves"}
ALGS = {0x1: "rsa", 0x23: "ecc", 0x6: "aes", 0x8: "keyedhash"}


def describe(payload):
    cc = struct.unpack_from(">I", payload, 6)[0]
    name = tpm_pcap.CC_NAMES.get(cc, hex(cc))
    tag = struct.unpack_from(">H", payload, 0)[0]
    body = 10 if tag == 0x8001 else None  # no sessions: parameters follow the header
    if cc == 0x17A and body is not None and len(payload) >= body + 8:
        cap, prop = struct.unpack_from(">II", payload, body)
        if cap == 1:
            return f"{name}(handles {prop >> 24:#04x})"
        return f"{name}({CAPS.get(cap, cap)})"
    if cc == 0x18A and body is not None and len(payload) >= body + 2:
        alg = struct.unpack_from(">H", payload, body)[0]
        return f"{name}({ALGS.get(alg, hex(alg))})"
    return name


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    if not os.path.exists(argv[1]):  # the pcap TCTI writes nothing without a command
        print(0)
        print("")
        print("")
        return 0
    seq, names = [], {}
    for to_tpm, p in tpm_pcap.packets(argv[1]):
        if len(p) < 10:
            continue
        if to_tpm:
            seq.append(describe(p))
            n = tpm_pcap.CC_NAMES.get(struct.unpack_from(">I", p, 6)[0], "?")
            names[n] = names.get(n, 0) + 1
        elif seq:  # a response: show a failure code next to its command
            rc = struct.unpack_from(">I", p, 6)[0]
            if rc:
                seq[-1] += f"[rc {rc:#x}]"
    out = []
    for s in seq:
        if out and out[-1][0] == s:
            out[-1][1] += 1
        else:
            out.append([s, 1])
    print(len(seq))
    print(", ".join(s if n == 1 else f"{s} x{n}" for s, n in out))
    print(" ".join(f"{k}={v}" for k, v in sorted(names.items(), key=lambda kv: (-kv[1], kv[0]))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

#!/usr/bin/env python3
"""Split an edgekey seal file for tpm2-tools (tests only).

  ekseal.py BLOB OUT    -> OUT.pub, OUT.priv; prints the parent handle

The format (core/tpm/token_seal.h): "EKSEAL2\\n", UINT32 parent (big
endian), TPM2B_PUBLIC, TPM2B_PRIVATE (each a big-endian UINT16 size + bytes).
Used by the tests that play an attacker or an auditor with tpm2-tools alone."""
import struct
import sys


def main():
    b = open(sys.argv[1], "rb").read()
    assert b[:8] == b"EKSEAL2\n", b[:8]
    parent, = struct.unpack(">I", b[8:12])
    off = 12
    parts = []
    for _ in range(2):
        n, = struct.unpack(">H", b[off:off + 2])
        parts.append(b[off:off + 2 + n])
        off += 2 + n
    assert off == len(b), (off, len(b))
    open(sys.argv[2] + ".pub", "wb").write(parts[0])
    open(sys.argv[2] + ".priv", "wb").write(parts[1])
    print("0x%08x" % parent)


if __name__ == "__main__":
    main()

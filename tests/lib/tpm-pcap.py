#!/usr/bin/env python3
"""Read the pcapng that tpm2-tss's pcap TCTI writes (TCTI "pcap:<child>",
file in TCTI_PCAP_FILE) and report the TPM commands in it.

  tpm-pcap.py count FILE            total commands, then one line per command code
  tpm-pcap.py total FILE            just the number of commands
  tpm-pcap.py contains FILE HEX     exit 0 if HEX occurs in any command or response
                                    sent over the wire, 1 if not
  tpm-pcap.py search FILE NAME=HEX...
                                    print the NAME of every HEX that occurs in a
                                    command or response (one line each, in the
                                    order given); exit 0 whether or not any did

The pcap TCTI records each command as an IPv4/TCP packet to port 2321 and
each response as one from it, so the TPM stream is easy to split."""
import struct
import sys

TPM_PORT = 2321

# TPM2_CC_* values from tss2_tpm2_types.h.
CC_NAMES = {
    0x120: "EvictControl",
    0x126: "Clear",
    0x131: "CreatePrimary",
    0x139: "DictionaryAttackLockReset",
    0x13a: "DictionaryAttackParameters",
    0x13e: "SequenceComplete",
    0x144: "Startup",
    0x14e: "NV_Read",
    0x148: "Certify",
    0x147: "ActivateCredential",
    0x150: "ObjectChangeAuth",
    0x151: "PolicySecret",
    0x153: "Create",
    0x154: "ECDH_ZGen",
    0x155: "HMAC",
    0x157: "Load",
    0x159: "RSA_Decrypt",
    0x15c: "SequenceUpdate",
    0x15d: "Sign",
    0x15e: "Unseal",
    0x161: "ContextLoad",
    0x162: "ContextSave",
    0x165: "FlushContext",
    0x169: "NV_ReadPublic",
    0x168: "MakeCredential",
    0x167: "LoadExternal",
    0x16b: "PolicyAuthValue",
    0x173: "ReadPublic",
    0x176: "StartAuthSession",
    0x177: "VerifySignature",
    0x17a: "GetCapability",
    0x17b: "GetRandom",
    0x17d: "Hash",
    0x181: "ReadClock",
    0x186: "HashSequenceStart",
    0x189: "PolicyGetDigest",
    0x18a: "TestParms",
    0x191: "CreateLoaded",
}


def packets(path):
    """Yield (to_tpm, payload) for every packet in a pcapng file."""
    data = open(path, "rb").read()
    off = 0
    while off + 12 <= len(data):
        btype, blen = struct.unpack_from("<II", data, off)
        if blen < 12 or off + blen > len(data):
            break
        if btype == 6:  # Enhanced Packet Block
            caplen = struct.unpack_from("<I", data, off + 20)[0]
            pkt = data[off + 28: off + 28 + caplen]
            ihl = (pkt[0] & 0x0F) * 4
            sport, dport = struct.unpack_from(">HH", pkt, ihl)
            thl = (pkt[ihl + 12] >> 4) * 4
            yield dport == TPM_PORT, pkt[ihl + thl:]
        off += blen


def commands(path):
    for to_tpm, payload in packets(path):
        if to_tpm and len(payload) >= 10:
            yield struct.unpack_from(">I", payload, 6)[0]


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    verb, path = argv[1], argv[2]
    if verb == "total":
        print(sum(1 for _ in commands(path)))
        return 0
    if verb == "count":
        counts = {}
        for cc in commands(path):
            counts[cc] = counts.get(cc, 0) + 1
        print(sum(counts.values()))
        for cc, n in sorted(counts.items(), key=lambda x: -x[1]):
            print(f"{n:6d} {CC_NAMES.get(cc, hex(cc))}")
        return 0
    if verb == "contains" and len(argv) == 4:
        needle = bytes.fromhex(argv[3])
        return 0 if any(needle in p for _, p in packets(path)) else 1
    if verb == "search" and len(argv) > 3:
        wanted = []
        for arg in argv[3:]:
            name, sep, hexs = arg.partition("=")
            if not sep or not name or not hexs:
                print(f"search: '{arg}' is not NAME=HEX", file=sys.stderr)
                return 2
            wanted.append((name, bytes.fromhex(hexs)))
        payloads = [p for _, p in packets(path)]
        for name, needle in wanted:
            if any(needle in p for p in payloads):
                print(name)
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))

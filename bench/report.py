#!/usr/bin/env python3
"""Turn the BENCH lines of one run-all.sh run into the table of ratios
against the issue-10 targets (docs/performance.md):

  - 1 TPM command per warm signature (and per warm handshake: one signature);
  - the fewest TPM commands per `openssl s_client` process (one mutual-TLS
    handshake, a fresh process): judged as fewer than tpm2-openssl's on the
    same swtpm, every command listed by name under the table;
  - signatures/s >= 0.9 x the ESYS floor: keys without an auth value against
    the password column, keys with one against the salted-session column;
  - client CPU per s_client process (user + system of that process, median
    over every process) <= 1.3 x a software key's.

The earlier wall-clock targets (s_client rate >= 0.7 x software, issue 2's
in-process handshakes >= 2.5 x tpm2-openssl) are printed with their old
target in parentheses and "report only": measured, never judged.

  report.py RESULTS_FILE
  report.py best ROUNDS_FILE    BENCH lines of interleaved rounds -> one line per
                                figure: the best rate (the median for cpu/ and proc/)

Exit status: 0 if every edgekey measurement ran (a missed target is printed
as MISSED, not an error, unless BENCH_STRICT=1), 1 if one is missing or
failed, so a broken build cannot pass for a slow one."""
import os
import re
import sys


def load(path):
    vals, notes = {}, []
    for line in open(path):
        m = re.match(r"BENCH (\S+) (\S+) (\S+)(.*)", line)
        if m:
            try:
                vals[m.group(1)] = (float(m.group(2)), m.group(3), m.group(4).strip())
            except ValueError:
                pass
        elif line.startswith("#"):
            notes.append(line.rstrip())
    return vals, notes


def num_s(x):
    return f"{x:.0f}" if x >= 100 else f"{x:.1f}" if x >= 10 else f"{x:.2f}"


def best(path):
    """One BENCH line per figure from several rounds of the same figures."""
    seen = {}
    for line in open(path):
        m = re.match(r"BENCH (\S+) (\S+) (\S+)", line)
        if m:
            seen.setdefault(m.group(1), ([], m.group(3)))[0].append(float(m.group(2)))
    for fid, (xs, unit) in seen.items():
        xs.sort()
        # CPU per operation and whole-process rates (a few processes per
        # round, each with its own start-up jitter) take the median; the
        # in-process rates the best round, the least disturbed one.
        med = any(fid.startswith(p) or f"/{p}" in fid for p in ("cpu/", "proc/"))
        pick, how = (xs[len(xs) // 2], "median") if med else (xs[-1], "best")
        print(f"BENCH {fid} {pick:g} {unit} ({how} of {len(xs)} interleaved rounds: "
              f"{' '.join(f'{x:g}' for x in xs)})")
    return 0


def main(argv):
    if len(argv) == 3 and argv[1] == "best":
        return best(argv[2])
    vals, notes = load(argv[1])
    rows, missing, missed = [], [], []

    def v(key):
        return vals[key][0] if key in vals else None

    def row(what, num, den, target=None, op=">=", must=True, report_only=False):
        """One figure. A target is judged (ok/MISSED) unless report_only:
        then it is shown in parentheses, as the withdrawn target it was."""
        a, b = v(num), v(den) if den else None
        tshow = "" if target is None else (f"({op} {target})" if report_only
                                           else f"{op} {target}")
        if a is None:
            if must:
                missing.append(num)
            rows.append((what, "n/a", "n/a" if den else "", "", tshow, "NOT MEASURED"))
            return
        if den is None:
            ratio, shown_b = a, ""
        elif b is None or b == 0:
            rows.append((what, num_s(a), "n/a", "", tshow, "no reference"))
            return
        else:
            ratio, shown_b = a / b, num_s(b)
        verdict = ""
        if target is not None:
            ok = {">=": ratio >= target, "<=": ratio <= target + 1e-9, "<": ratio < target,
                  "==": abs(ratio - target) < 1e-9}[op]
            if report_only:
                verdict = "report only"
            else:
                verdict = "ok" if ok else "MISSED"
                if not ok:
                    missed.append(what)
        # a miss that rounds to the target is shown with one more digit (0.898, not 0.90)
        shown_r = f"{ratio:.3f}" if verdict == "MISSED" and f"{ratio:.2f}" == f"{target:.2f}" \
            else f"{ratio:.2f}"
        rows.append((what, num_s(a), shown_b, shown_r if den else "", tshow, verdict))

    def ideal_row(alg, ver, pre):
        """The best any TPM key can do in-process: the software key's
        handshake plus one floor TPM2_Sign (password, the TLS scheme: PSS
        for RSA). edgekey / ideal near 1 means nothing but that Sign is
        added; the 2.5x target against tpm2-openssl is bounded by it."""
        sw = v(f"{pre}tls/software/{alg}/{ver}")
        fl = v(f"{pre}floor/{'rsa2048-pss' if alg == 'rsa' else 'p256-ecdsa'}/password")
        if sw and fl:
            vals[f"{pre}ideal/{alg}/{ver}"] = (1.0 / (1.0 / sw + 1.0 / fl), "hs/s", "")
        row(f"handshakes/s {alg} {ver}: edgekey / (software + 1 floor Sign)",
            f"{pre}tls/edgekey/{alg}/{ver}", f"{pre}ideal/{alg}/{ver}", must=False)
        if not pre:
            row(f"handshakes/s {alg} {ver}: (software + 1 floor Sign) / tpm2-openssl",
                f"ideal/{alg}/{ver}", f"tls/tpm2/{alg}/{ver}", must=False)

    for pre, title in (("", "through tpm2-abrmd"), ("direct/", "direct swtpm TCTI")):
        if not any(k.startswith(pre + "sign/edgekey") for k in vals) and pre:
            rows.append((f"-- {title}: no edgekey results", "", "", "", "", ""))
            continue
        rows.append((f"-- {title}", "", "", "", "", ""))
        # Keys without auth: edgekey sends no session (nothing secret), so
        # the floor is the password column; keys with an auth value go
        # through the salted session, so theirs is the session column.
        for s, f in (("rsa/pkcs1", "rsa2048-pkcs1"), ("rsa/pss", "rsa2048-pss"),
                     ("ec/ecdsa", "p256-ecdsa")):
            alg, sch = s.split("/")
            row(f"signs/s {s}: edgekey / floor(password)", f"{pre}sign/edgekey/{s}",
                f"{pre}floor/{f}/password", 0.9)
            row(f"signs/s {s}: edgekey(auth) / floor(session)",
                f"{pre}sign/edgekey/{alg}_auth/{sch}", f"{pre}floor/{f}/session", 0.9)
            if not pre:
                row(f"signs/s {s}: edgekey / tpm2-openssl", f"sign/edgekey/{s}",
                    f"sign/tpm2/{s}", must=False)
                row(f"signs/s {s}: edgekey / software key", f"sign/edgekey/{s}",
                    f"sign/software/{s}", must=False)
        for alg in ("rsa", "ec"):
            for ver in ("tls1.2", "tls1.3"):
                if pre:
                    row(f"handshakes/s {alg} {ver}: edgekey / software",
                        f"{pre}tls/edgekey/{alg}/{ver}", f"{pre}tls/software/{alg}/{ver}",
                        must=False)
                    ideal_row(alg, ver, pre)
                    continue
                row(f"handshakes/s {alg} {ver}: edgekey / tpm2-openssl",
                    f"tls/edgekey/{alg}/{ver}", f"tls/tpm2/{alg}/{ver}", 2.5,
                    report_only=True)
                row(f"handshakes/s {alg} {ver}: edgekey / software",
                    f"tls/edgekey/{alg}/{ver}", f"tls/software/{alg}/{ver}", must=False)
                ideal_row(alg, ver, pre)
        if not pre:
            row("handshakes/s rsa tls1.3: edgekey / tpm2-openssl(TPM digests)",
                "tls/edgekey/rsa/tls1.3", "tls/tpm2-tpmdigest/rsa/tls1.3", must=False)
        for alg in ("rsa", "ec") if not pre else ("rsa",):
            for ver in ("1.2", "1.3"):
                row(f"TPM commands / warm handshake {alg} tls{ver}: edgekey",
                    f"{pre}cmds/hs/edgekey/{alg}/tls{ver}", None, 1.0, "==")
        if not pre:
            for ver in ("1.2", "1.3"):
                row(f"TPM commands / warm handshake rsa tls{ver}: tpm2-openssl",
                    f"cmds/hs/tpm2/rsa/tls{ver}", None, must=False)
        for k in ("rsa", "ec", "rsa_auth", "ec_auth") if not pre else ("rsa", "rsa_auth"):
            row(f"TPM commands / warm signature {k}: edgekey",
                f"{pre}cmds/sign/edgekey/{k}", None, 1.0, "==")
        if not pre:
            row("TPM commands / warm signature rsa: tpm2-openssl", "cmds/sign/tpm2/rsa", None,
                must=False)
        # TPM commands of one whole s_client process (issue 10: the fewest;
        # judged against tpm2-openssl on the same swtpm through tpm2-abrmd).
        for ver in ("1.2", "1.3"):
            if pre:
                row(f"TPM commands / s_client process rsa tls{ver}: edgekey",
                    f"{pre}cmds/proc/edgekey/rsa/tls{ver}", None)
                row(f"TPM commands / s_client process rsa tls{ver}: edgekey, persistent SRK",
                    f"{pre}cmds/proc/edgekey/rsa_psrk/tls{ver}", None, must=False)
                continue
            row(f"TPM commands / s_client process rsa tls{ver}: edgekey / tpm2-openssl",
                f"cmds/proc/edgekey/rsa/tls{ver}", f"cmds/proc/tpm2/rsa/tls{ver}", 1.0, "<")
            row(f"TPM commands / s_client process rsa tls{ver}: edgekey / tpm2-openssl"
                " (tpm2.digest=no in openssl.cnf)", f"cmds/proc/edgekey/rsa/tls{ver}",
                f"cmds/proc/tpm2/rsa-cnf/tls{ver}", 1.0, "<")
        if not pre:
            row("TPM commands / s_client process ec tls1.3: edgekey",
                "cmds/proc/edgekey/ec/tls1.3", None)
        # Client CPU per s_client process (issue 10: <= 1.3 x software key).
        for alg, ver in (("rsa", "1.2"), ("rsa", "1.3"), ("ec", "1.3"), ("rsa_psrk", "1.2"),
                         ("rsa_psrk", "1.3")):
            if (alg == "ec" and pre) or (alg == "rsa_psrk" and not pre):
                continue
            sw = "ec" if alg == "ec" else "rsa"
            row(f"client CPU ms / s_client process {alg} tls{ver}: edgekey / software key",
                f"{pre}cpu/proc/edgekey/{alg}/tls{ver}", f"{pre}cpu/proc/software/{sw}/tls{ver}",
                1.3, "<=", must=(alg != "rsa_psrk"))
        if not pre:
            for ver in ("1.2", "1.3"):
                row(f"client CPU ms / s_client process rsa tls{ver}: tpm2-openssl / software key",
                    f"cpu/proc/tpm2/rsa/tls{ver}", f"cpu/proc/software/rsa/tls{ver}",
                    must=False)
        # The withdrawn wall-clock target (issue 2): reported, not judged.
        for ver in ("1.2", "1.3"):
            if pre:
                row(f"s_client processes/s rsa tls{ver}: edgekey / software key",
                    f"{pre}proc/edgekey/rsa/tls{ver}", f"{pre}proc/software/rsa/tls{ver}", 0.7,
                    report_only=True)
                row(f"s_client processes/s rsa tls{ver}: edgekey, persistent SRK / software key",
                    f"{pre}proc/edgekey/rsa_psrk/tls{ver}", f"{pre}proc/software/rsa/tls{ver}",
                    0.7, must=False, report_only=True)
                continue
            row(f"s_client processes/s rsa tls{ver}: edgekey / software key",
                f"proc/edgekey/rsa/tls{ver}", f"proc/software/rsa/tls{ver}", 0.7,
                report_only=True)
            row(f"s_client processes/s rsa tls{ver}: edgekey / tpm2-openssl",
                f"proc/edgekey/rsa/tls{ver}", f"proc/tpm2/rsa/tls{ver}", must=False)
        if not pre:
            row("s_client processes/s ec tls1.3: edgekey / software key",
                "proc/edgekey/ec/tls1.3", "proc/software/ec/tls1.3", 0.7, report_only=True)
            row("RSA-2048 keygen ms: edgekey / tpm2-openssl", "keygen/ek_rsa", "keygen/t2_rsa",
                must=False)
        # Client CPU per operation: hardly moved by other processes' load,
        # so it shows edgekey's own cost even on a busy machine.
        for s, f in (("rsa/pkcs1", "rsa2048-pkcs1"), ("ec/ecdsa", "p256-ecdsa")):
            alg, sch = s.split("/")
            row(f"client CPU us/sign {s}: edgekey / floor(password)",
                f"{pre}cpu/sign/edgekey/{s}", f"{pre}cpu/floor/{f}/password", must=False)
            row(f"client CPU us/sign {s}: edgekey(auth) / floor(session)",
                f"{pre}cpu/sign/edgekey/{alg}_auth/{sch}", f"{pre}cpu/floor/{f}/session",
                must=False)
        for alg in ("rsa", "ec"):
            for ver in ("tls1.2", "tls1.3"):
                row(f"CPU us/handshake {alg} {ver}: edgekey / software key",
                    f"{pre}cpu/tls/edgekey/{alg}/{ver}", f"{pre}cpu/tls/software/{alg}/{ver}",
                    must=False)
                if not pre and alg == "rsa":
                    row(f"CPU us/handshake {alg} {ver}: edgekey / tpm2-openssl",
                        f"cpu/tls/edgekey/{alg}/{ver}", f"cpu/tls/tpm2/{alg}/{ver}", must=False)

    head = ("figure", "edgekey", "reference", "ratio", "target", "")
    width = [max(len(str(r[i])) for r in rows + [head]) for i in range(6)]
    print()
    print("  ".join(h.ljust(w) for h, w in zip(head, width)))
    print("  ".join("-" * w for w in width))
    for r in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, width)).rstrip())
    print()
    for n in notes:
        if any(w in n for w in ("FAILED", "tpm2-openssl direct", "load average", "priority",
                                "commands of one s_client process")):
            print(n)
    if missed:
        print(f"targets missed: {len(missed)} ({'; '.join(missed)})")
    if missing:
        print(f"edgekey figures not measured: {', '.join(missing)}")
        return 1
    return 1 if missed and os.environ.get("BENCH_STRICT") == "1" else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

#!/usr/bin/env python3
"""Print the runnable shell of a markdown page, for tests/interop/docs/doc-run.sh.

Every ```sh fence at the start of a line is a command block and is run, in
page order, as one script, unless its first line is the visible marker
    # not run by the doc test: REASON
(the reason is required and shown on the page). Other fences (ini, plain
text, C) are not commands. Substitutions, each "OLD=NEW" from the command
line, are applied to the runnable text only; they replace a real chip, fixed
ports and system paths with the test's swtpm, free ports and temp dirs.
A summary of what ran and what was skipped goes to stderr.
"""
import re
import sys

MARK = re.compile(r"^#\s*not run by the doc test:\s*(.*)$")


def blocks(text):
    """(info string, body lines, line number) for each top-level fence."""
    out, lines, i = [], text.split("\n"), 0
    while i < len(lines):
        m = re.match(r"^(```+)\s*([\w-]*)", lines[i])
        if not m:
            i += 1
            continue
        fence, info, start, body = m.group(1), m.group(2), i + 1, []
        i += 1
        while i < len(lines) and not lines[i].startswith(fence):
            body.append(lines[i])
            i += 1
        out.append((info, body, start))
        i += 1
    return out


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: doc-blocks.py PAGE [OLD=NEW]...")
    page = sys.argv[1]
    subs = [a.split("=", 1) for a in sys.argv[2:]]
    script, ran, skipped = [], 0, 0
    for info, body, line in blocks(open(page, encoding="utf-8").read()):
        if info != "sh":
            continue
        m = MARK.match(body[0]) if body else None
        if m:
            if not m.group(1).strip():
                sys.exit(f"{page}:{line}: 'not run by the doc test:' without a reason")
            print(f"doc-blocks: {page}:{line}: not run: {m.group(1).strip()}", file=sys.stderr)
            skipped += 1
            continue
        text = "\n".join(body)
        for old, new in subs:
            # whole words only, so that port 2321 does not touch 23210
            text = re.sub(r"(?<![\w.])" + re.escape(old) + r"(?![\w])", lambda _m: new, text)
        script.append(f"# --- {page}:{line}\n{text}\n")
        ran += 1
    if ran == 0:
        sys.exit(f"{page}: no runnable ```sh block")
    print(f"doc-blocks: {page}: {ran} blocks to run, {skipped} not run", file=sys.stderr)
    sys.stdout.write("\n".join(script))


if __name__ == "__main__":
    main()

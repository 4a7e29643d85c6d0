#!/usr/bin/env python3
"""Derive load-safe seed variants for the parse_load fuzz target.

The target skips `rginx::config::load` (but still parses) when the input names something that
resolves host names or reads outside its scratch directory (see `load_is_safe` in
fuzz_targets/parse_load.rs). Most real configs do, so on their own they only seed the parser.
This script writes, for each such seed `X`, a variant `load__X` in which:
  - every `upstream ... { ... }` block is removed (brace matching, quotes and comments honoured),
  - lines with proxy_pass / *_pass / listen / resolver / /dev /proc /sys /run are blanked
    (removed, keeping line numbers: the skip test looks at comments too),
  - `include` lines naming a path with `/` (or quotes, escapes, comments) are blanked,
so that the loader and the lowering passes see the rest of the real configuration.

Usage: scripts/make_load_seeds.py seeds/parse_load
"""
import os
import re
import sys

SKIP = [b"_pass", b"upstream", b"listen", b"resolver", b"/dev", b"/proc", b"/sys", b"/run"]


def include_ok(data: bytes) -> bool:
    """Mirror of the `include` scan in load_is_safe."""
    i = data.find(b"include")
    while i >= 0:
        for b in data[i + 7:]:
            c = bytes([b])
            if c in (b";", b"{", b"}"):
                break
            if c in (b"/", b'"', b"'", b"\\", b"#"):
                return False
        i = data.find(b"include", i + 7)
    return True


def safe(data: bytes) -> bool:
    if any(s in data for s in SKIP):
        return False
    return include_ok(data)


def drop_upstreams(data: bytes) -> bytes:
    out = bytearray()
    i = 0
    n = len(data)
    while i < n:
        m = re.compile(rb"(^|[\s;{}])upstream\s").search(data, i)
        if not m:
            out += data[i:]
            break
        start = m.start() + len(m.group(1))
        out += data[i:start]
        # find the block's opening brace, then its matching close
        j = data.find(b"{", start)
        if j < 0:
            out += data[start:]
            break
        depth = 0
        k = j
        quote = None
        while k < n:
            c = data[k:k + 1]
            if quote:
                if c == b"\\":
                    k += 1
                elif c == quote:
                    quote = None
            elif c in (b'"', b"'"):
                quote = c
            elif c == b"#":
                e = data.find(b"\n", k)
                k = n if e < 0 else e
                continue
            elif c == b"{":
                depth += 1
            elif c == b"}":
                depth -= 1
                if depth == 0:
                    k += 1
                    break
            k += 1
        i = k
    return bytes(out)


def comment_lines(data: bytes) -> bytes:
    lines = data.split(b"\n")
    out = []
    for line in lines:
        bad = any(s in line for s in SKIP) or (b"include" in line and not include_ok(line))
        out.append(b"" if bad else line)
    return b"\n".join(out)


def main() -> None:
    d = sys.argv[1]
    made = 0
    for name in sorted(os.listdir(d)):
        if name.startswith("load__"):
            continue
        path = os.path.join(d, name)
        with open(path, "rb") as f:
            data = f.read()
        if safe(data):
            continue
        v = comment_lines(drop_upstreams(data))
        if not safe(v):
            # a skip word hidden in a multi-line construct; leave it to the fuzzer
            continue
        with open(os.path.join(d, "load__" + name), "wb") as f:
            f.write(v)
        made += 1
    print(f"wrote {made} load-safe variants")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""tests/compose/pace.py: copies a file of lines to stdout at about RATE lines per second, so that the
compose test's send lasts long enough to be disturbed (mapper killed, state restarted, mappers scaled).

Usage: pace.py RATE FILE
"""
import sys
import time


def main(argv):
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    rate = max(1.0, float(argv[1]))
    chunk = max(1, int(rate / 50))  # about 50 writes per second
    out = sys.stdout.buffer
    start, sent = time.monotonic(), 0
    try:
        with open(argv[2], "rb") as f:
            while True:
                lines = [ln for ln in (f.readline() for _ in range(chunk)) if ln]
                if not lines:
                    break
                out.writelines(lines)
                out.flush()
                sent += len(lines)
                ahead = start + sent / rate - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
    except BrokenPipeError:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

"""``make bench``: run every benchmark module in turn."""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = ["bench.relay", "bench.upload", "bench.streaming"]


def main() -> int:
    """Run each benchmark that exists; say which are missing."""
    status = 0
    for name in BENCHMARKS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError:
            print(f"{name}: not present", file=sys.stderr)
            continue
        status |= int(module.main([]) or 0)
    return status


if __name__ == "__main__":
    sys.exit(main())

"""Print how long each notebook took to execute in the last build: ``python tools/notebook_times.py
[_build]``. Reads jupyter-cache's records (``<build>/.jupyter_cache``), which store every executed
notebook with its execution time; a notebook taken from the cache keeps the time of its real execution.
"""
from __future__ import annotations

import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    build = Path(argv[1] if len(argv) > 1 else "_build")
    cache_dir = build / ".jupyter_cache"
    if not cache_dir.exists():
        print(f"no jupyter-cache in {cache_dir}: nothing was executed through the cache yet")
        return 0
    from jupyter_cache import get_cache
    records = get_cache(str(cache_dir)).list_cache_records()
    latest: dict[str, object] = {}
    for rec in records:                      # keep the newest record of each notebook
        if rec.uri not in latest or rec.created > latest[rec.uri].created:
            latest[rec.uri] = rec
    root = Path.cwd()
    rows = []
    for uri, rec in latest.items():
        seconds = (rec.data or {}).get("execution_seconds")
        try:
            name = str(Path(uri).resolve().relative_to(root))
        except ValueError:
            name = uri
        rows.append((name, seconds, rec.created))
    rows.sort(key=lambda r: -(r[1] or 0))
    width = max(len(r[0]) for r in rows)
    print(f"{'notebook':<{width}}  seconds  executed at")
    total = 0.0
    for name, seconds, created in rows:
        total += seconds or 0.0
        print(f"{name:<{width}}  {seconds if seconds is not None else float('nan'):7.1f}  {created:%Y-%m-%d %H:%M:%S}")
    print(f"{'total':<{width}}  {total:7.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))

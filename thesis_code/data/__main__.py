"""``python -m thesis_code.data fetch`` converts and verifies every data set (what ``make data`` runs):
the images, the WordNet sentences and the Adult table. ``checksum [name ...]`` prints image checksums."""
import sys

from . import images


def main(argv: list[str]) -> int:
    if argv[:1] != ["fetch"] or len(argv) > 1:
        return images.main(argv)
    status = images.main(["fetch"])
    from . import tables, text
    print(text.prepare())
    for split in ("train", "test"):
        print(f"adult/{split}: {len(tables.load_adult(split)):,} rows verified")
    return status


raise SystemExit(main(sys.argv[1:]))

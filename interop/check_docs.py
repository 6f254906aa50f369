"""Keeps docs/sso.md and the interop suites in step.

Every block of an interop source between a line `… BEGIN docs/sso.md NAME`
and a line `… END docs/sso.md NAME` must appear, verbatim, in docs/sso.md: the
verification snippets the documentation shows are the ones the suites run.
Prints `PASS docs: …` or `FAIL docs: …` per block; exits 1 on any failure.
Standard library only.
"""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [ROOT / "interop/python/test_interop.py", ROOT / "interop/node/interop.mjs"]
DOC = ROOT / "docs/sso.md"

BLOCK = re.compile(r"^[^\n]*BEGIN docs/sso\.md (\S+)\n(.*?)^[^\n]*END docs/sso\.md \1\n", re.S | re.M)


def main() -> int:
    doc = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
    failed = found = 0
    for source in SOURCES:
        for match in BLOCK.finditer(source.read_text(encoding="utf-8")):
            found += 1
            name, text = match.group(1), match.group(2)
            block = f"block {name!r} of {source.relative_to(ROOT)}"
            if text.strip() and text in doc:
                print(f"PASS docs: {block} appears verbatim in docs/sso.md")
            else:
                failed += 1
                print(f"FAIL docs: {block} is not verbatim in docs/sso.md (copy it there again)")
    if not found:
        failed += 1
        print("FAIL docs: no BEGIN/END docs/sso.md blocks found in the interop sources")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

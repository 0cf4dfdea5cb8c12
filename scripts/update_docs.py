"""`make docs`: write the settings table of docs/configuration.md from the declarations in smartsupport/config.py."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from smartsupport.config import settings_table  # noqa: E402

DOC = ROOT / "docs" / "configuration.md"
START, END = "<!-- settings-table -->\n", "<!-- /settings-table -->"


def main() -> None:
    text = DOC.read_text()
    head, rest = text.split(START, 1)
    tail = rest.split(END, 1)[1]
    DOC.write_text(head + START + settings_table() + END + tail)
    print(f"wrote the settings table of {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()

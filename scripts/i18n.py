"""Refresh the message catalogues: extract, merge into each .po, report untranslated strings.

Usage: python scripts/i18n.py [--check] [--merge FILE.json]
  --check   only report; exit 1 when an Italian string is missing
  --merge   fill Italian translations from a JSON object {"English": "Italiano"}; a plural
            message is keyed by its singular and takes a list: {"%(num)d post": ["…", "…"]}
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from babel.messages.catalog import Message
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "lti_tool" / "translations"
POT = TRANSLATIONS / "messages.pot"


def untranslated(po_path: Path) -> list[str]:
    with po_path.open("rb") as handle:
        catalog = read_po(handle)

    def missing(message: Message) -> bool:
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        return not all(strings) or bool(message.fuzzy)

    return [str(m.id) for m in catalog if m.id and missing(m)]


def merge(po_path: Path, translations: dict[str, str | list[str]]) -> None:
    with po_path.open("rb") as handle:
        catalog = read_po(handle)
    for message in catalog:
        # A plural message is looked up by its singular msgid and takes a list of forms.
        key = message.id[0] if isinstance(message.id, tuple) else message.id
        if key not in translations:
            continue
        value = translations[str(key)]
        message.string = tuple(value) if isinstance(message.id, tuple) else value
        message.flags.discard("fuzzy")
    with po_path.open("wb") as handle:
        write_po(handle, catalog, width=0, omit_header=False)


def main() -> int:
    check = "--check" in sys.argv
    if not check:
        bin_dir = Path(sys.executable).parent
        subprocess.run(
            [
                bin_dir / "pybabel",
                "-q",
                "extract",
                "-F",
                "babel.cfg",
                "-k",
                "_l",
                "--no-location",
                "--omit-header",
                "-o",
                str(POT),
                ".",
            ],
            cwd=ROOT,
            check=True,
        )
        subprocess.run(
            [
                bin_dir / "pybabel",
                "-q",
                "update",
                "-N",
                "--no-wrap",
                "-i",
                str(POT),
                "-d",
                str(TRANSLATIONS),
            ],
            cwd=ROOT,
            check=True,
        )
    if "--merge" in sys.argv:
        source = Path(sys.argv[sys.argv.index("--merge") + 1])
        merge(TRANSLATIONS / "it" / "LC_MESSAGES" / "messages.po", json.loads(source.read_text()))
    missing = {
        p.parent.parent.name: untranslated(p) for p in TRANSLATIONS.glob("*/LC_MESSAGES/*.po")
    }
    status = 0
    for lang, ids in missing.items():
        for msgid in ids:
            print(f"{lang}: untranslated: {msgid}")
            status = 1
    return status


if __name__ == "__main__":
    raise SystemExit(main())

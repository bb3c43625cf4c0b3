"""``make messages`` (``python -m transition.cli.catalogues``): the gettext catalogues brought in
step with the code, or ``--check``ed (:mod:`transition.catalogues` does the work)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from babel.messages.pofile import write_po

from transition.catalogues import (
    catalogue_languages,
    extract,
    po_path,
    problems,
    translated,
    update,
    write,
)
from transition.locations import REPO_ROOT


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m transition.cli.catalogues",
        description="Keep the gettext catalogues in step with the code.",
    )
    parser.add_argument(
        "--check", action="store_true", help="change nothing; exit 1 if a catalogue is out of step"
    )
    parser.add_argument("--pot", type=Path, help="also write the template catalogue to this file")
    parser.add_argument(
        "--add", metavar="LANG", help="start the catalogue of a new language (e.g. nl)"
    )
    args = parser.parse_args(argv)
    template = extract()
    if args.pot:
        with args.pot.open("wb") as handle:
            write_po(handle, template, width=100, include_lineno=False)
    languages = catalogue_languages()
    if args.add:
        languages = sorted(set(languages) | {args.add})
    if args.check:
        found = [p for language in languages for p in problems(template, language)]
        print(
            "\n".join(found)
            if found
            else f"{len(template)} messages, translated in {', '.join(languages)}"
        )
        return 1 if found else 0
    for language in languages:
        catalog = update(template, language)
        write(catalog, language)
        left = sum(1 for m in catalog if m.id and not translated(m))
        print(
            f"{po_path(language).relative_to(REPO_ROOT)}: {len(catalog)} messages"
            + (f", {left} to translate" if left else "")
        )
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

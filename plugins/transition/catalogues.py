"""Keeping the gettext catalogues in step with the code (``make messages``: :mod:`transition.cli.catalogues`).

1. extracts every message of the code (``_``, ``ngettext``, ``pgettext``, ``N_``) and of the
   templates (``{% trans %}``, ``_()``) with Babel: the template catalogue;
2. updates ``locale/<lang>/LC_MESSAGES/transition.po`` of every language from it: new messages
   come in untranslated (English: filled with the English text), messages gone from the code are
   dropped;
3. compiles each ``.po`` to its ``.mo`` (what :mod:`transition.i18n` reads).

``--check`` changes nothing and exits 1 when a catalogue is out of step (a message missing or
untranslated in a language, an obsolete one, or a ``.mo`` older than its ``.po``): what the
tests check too. ``--pot FILE`` also writes the template (for translation tools).
"""

from __future__ import annotations

import copy
import io
import re
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

from transition.i18n import DOMAIN, LOCALE_DIR, SOURCE_LANGUAGE
from transition.locations import PACKAGE_DIR, REPO_ROOT, TEMPLATES_DIR

PROJECT = "airflow-transition"
# The templates' environment trims whitespace in {% trans %} blocks (transition.notifications.mail): so does extraction.
JINJA_OPTIONS = {"trimmed": "true", "newstyle_gettext": "true"}
# Plural rules where the CLDR's differ from gettext's usual ones (French: CLDR adds a form for millions).
PLURAL_FORMS = {"fr": (2, "(n > 1)")}
_PLACEHOLDER = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]*\}|%\([A-Za-z_][A-Za-z0-9_]*\)[sd]")


def po_path(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def catalogue_languages() -> list[str]:
    return sorted(p.parent.parent.name for p in LOCALE_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))


def extract() -> Catalog:
    """The template catalogue: every message of the package's code and of its templates."""
    template = Catalog(project=PROJECT, domain=DOMAIN, charset="utf-8", fuzzy=False)
    sources = [
        (PACKAGE_DIR, [("**.py", "python")], {}),
        (TEMPLATES_DIR, [("**.j2", "jinja2.ext:babel_extract")], {"**.j2": JINJA_OPTIONS}),
    ]
    for folder, method_map, options in sources:
        for filename, lineno, message, comments, context in extract_from_dir(
            folder, method_map, options, comment_tags=("Translators:",), strip_comment_tags=True
        ):
            where = (str((folder / filename).relative_to(REPO_ROOT)), lineno)
            template.add(message, None, [where], auto_comments=comments, context=context)
    return template


def read_catalogue(path: Path, language: str) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle, locale=language, domain=DOMAIN)


def _ids(catalog: Catalog) -> set[tuple[str, str | None]]:
    return {(m.id if isinstance(m.id, str) else m.id[0], m.context) for m in catalog if m.id}


def placeholders(text: str) -> list[str]:
    return sorted(_PLACEHOLDER.findall(text or ""))


def problems(template: Catalog, language: str) -> list[str]:
    """What is wrong with a language's catalogue against the template (empty: nothing)."""
    path = po_path(language)
    catalog = read_catalogue(path, language)
    found: list[str] = []
    missing = _ids(template) - _ids(catalog)
    found += [
        f"{language}: not in the catalogue: {message!r}" for message, _ in sorted(missing, key=str)
    ]
    obsolete = _ids(catalog) - _ids(template)
    found += [
        f"{language}: no longer in the code (obsolete): {message!r}"
        for message, _ in sorted(obsolete, key=str)
    ]
    found += [f"{language}: obsolete entry kept: {key!r}" for key in catalog.obsolete]
    for message in catalog:
        if not message.id:
            continue
        ids = [message.id] if isinstance(message.id, str) else list(message.id)
        strings = _strings(message)
        if message.fuzzy:
            found.append(f"{language}: fuzzy (to check): {ids[0]!r}")
        if not all(s.strip() for s in strings) or len(strings) < catalog.num_plurals * (
            len(ids) > 1
        ):
            found.append(f"{language}: not translated: {ids[0]!r}")
            continue
        wanted = placeholders(ids[-1])
        for string in strings:
            if set(placeholders(string)) != set(wanted):
                found.append(
                    f"{language}: placeholders {placeholders(string)} instead of {wanted}: {ids[0]!r}"
                )
    mo = path.with_suffix(".mo")
    if not mo.is_file():
        found.append(f"{language}: {mo.name} missing (make messages)")
    elif compiled(catalog) != mo.read_bytes():
        found.append(f"{language}: {mo.name} does not match {path.name} (make messages)")
    return found


def compiled(catalog: Catalog) -> bytes:
    out = io.BytesIO()
    write_mo(out, catalog, use_fuzzy=False)
    return out.getvalue()


def update(template: Catalog, language: str) -> Catalog:
    """The language's catalogue brought in step with the template (English filled with the ids)."""
    path = po_path(language)
    if path.is_file():
        catalog = read_catalogue(path, language)
    else:
        catalog = Catalog(
            locale=language,
            project=PROJECT,
            domain=DOMAIN,
            charset="utf-8",
            fuzzy=False,
            version="1",
            header_comment=f"# {language} messages of {PROJECT} (make messages keeps this file in step with the code).",
            copyright_holder=f"{PROJECT} contributors",
            msgid_bugs_address="",
            last_translator=f"{PROJECT} contributors",
            language_team=f"{PROJECT} contributors",
        )
        if language in PLURAL_FORMS:
            catalog._num_plurals, catalog._plural_expr = PLURAL_FORMS[language]  # type: ignore[assignment]  # Babel keeps them private, typed None
    # Babel's update shares the template's message objects with the catalogue: give it its own copy,
    # or filling the English catalogue would fill every other language's new messages with English.
    catalog.update(
        copy.deepcopy(template),
        no_fuzzy_matching=True,
        update_header_comment=False,
        update_creation_date=False,
    )
    catalog.obsolete.clear()
    if language == SOURCE_LANGUAGE:
        for message in catalog:
            if message.id and not translated(message):
                message.string = message.id if isinstance(message.id, str) else tuple(message.id)
    catalog.fuzzy = False
    return catalog


def _strings(message: Message) -> list[str]:
    if isinstance(message.string, str):
        return [message.string]
    return list(message.string or ())


def translated(message: Message) -> bool:
    strings = _strings(message)
    return bool(strings) and all(s for s in strings)


def write(catalog: Catalog, language: str) -> None:
    path = po_path(language)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = io.BytesIO()
    write_po(
        out, catalog, width=100, include_lineno=False, ignore_obsolete=True, sort_by_file=False
    )
    path.write_bytes(out.getvalue())
    path.with_suffix(".mo").write_bytes(compiled(catalog))

"""An evidence pack: a run's journal and facts in a zip whose every file is hashed in a signed manifest.

The journal is the run's, as the api-server wrote it while the run ran (:mod:`transition.runs.journal`:
JSON Lines, each entry holding the SHA-256 of the one before and, when the api-server has the key,
its own MAC); beside it, what Airflow and the plugin held when the pack was made. The manifest holds
each file's SHA-256 and the journal's last hash, signed with HMAC-SHA256 and the deployment's key.
:func:`verify_pack` names the first thing that does not hold (:class:`EvidenceInvalid`).

What the pack proves and what it does not: docs/evidence.md.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import io
import json
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from transition.errors import EvidenceInvalid
from transition.i18n import _
from transition.runs.journal import GENESIS, canonical, entry_mac, sha256

PACK_FORMAT = 2  # 1: the journal made from the facts when the pack was made
ALGORITHM = "HMAC-SHA256"
JOURNAL = "journal.jsonl"  # the run's journal, as written while it ran
FACTS = "airflow_facts.jsonl"  # what Airflow and the plugin held when the pack was made
MANIFEST = "manifest.json"


def facts_file(facts: Iterable[tuple[str, Any]]) -> bytes:
    """The facts, one ``{"kind", "fact"}`` a line."""
    return b"".join(canonical({"kind": k, "fact": f}) + b"\n" for k, f in facts)


def signature(manifest: Mapping[str, Any], key: bytes) -> str:
    """The HMAC-SHA256 of the manifest without its signature."""
    unsigned = {k: v for k, v in manifest.items() if k != "signature"}
    return hmac.new(key, canonical(unsigned), hashlib.sha256).hexdigest()


def build_pack(
    run: str,
    journal: Sequence[str],
    signed: bool,
    files: Mapping[str, bytes],
    key: bytes,
    made_at: dt.datetime,
) -> bytes:
    """The zip: the manifest, the run's ``journal`` (its lines, each entry with its MAC when
    ``signed``) and ``files`` (name -> bytes)."""
    last = sha256(journal[-1].encode()) if journal else GENESIS
    members = {JOURNAL: "".join(line + "\n" for line in journal).encode(), **files}
    manifest: dict[str, Any] = {
        "format": PACK_FORMAT,
        "run": run,
        "made_at": made_at.isoformat(),
        "algorithm": ALGORITHM,
        "files": {name: sha256(data) for name, data in sorted(members.items())},
        "journal": {"file": JOURNAL, "entries": len(journal), "last": last, "signed": signed},
    }
    manifest["signature"] = signature(manifest, key)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as pack:
        pack.writestr(MANIFEST, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        for name, data in members.items():
            pack.writestr(name, data)
    return out.getvalue()


@dataclass(frozen=True)
class Verified:
    run: str
    made_at: str
    files: int
    entries: int
    signed: bool  # each entry of the journal signed by the api-server as it was written


def _member(pack: zipfile.ZipFile, name: str) -> bytes:
    try:
        return pack.read(name)
    except KeyError:
        raise EvidenceInvalid(
            _("{file}: missing from the pack (the manifest lists it)").format(file=name)
        ) from None
    except (zipfile.BadZipFile, OSError, EOFError):  # a wrong CRC: a byte changed in the zip
        raise EvidenceInvalid(_("{file}: damaged in the zip").format(file=name)) from None


def _manifest(pack: zipfile.ZipFile, key: bytes) -> dict[str, Any]:
    try:
        manifest = json.loads(_member(pack, MANIFEST))
    except ValueError:
        manifest = None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise EvidenceInvalid(_("{file}: not a manifest").format(file=MANIFEST))
    if not hmac.compare_digest(str(manifest.get("signature", "")), signature(manifest, key)):
        raise EvidenceInvalid(
            _(
                "{file}: the signature does not hold: the key is not the one that signed the pack, "
                "or the manifest was changed"
            ).format(file=MANIFEST)
        )
    return manifest


def check_journal(data: bytes, entries: int, last: str, key: bytes | None = None) -> None:
    """The chain of the journal: each entry numbered in turn, holding the hash of the one before,
    its MAC when ``key`` (it was signed), the last one the signed one; EvidenceInvalid names the
    first entry that does not hold."""
    previous, expected = GENESIS, 1
    for line in data.splitlines():
        try:
            entry = json.loads(line)
            number, held = int(entry["n"]), str(entry["prev"])
        except (ValueError, KeyError, TypeError):
            raise EvidenceInvalid(
                _("{file}: entry {n} is not an entry of the journal").format(
                    file=JOURNAL, n=expected
                )
            ) from None
        if number != expected and (held == previous or number < expected):
            raise _changed(expected, _("its number"))
        if number > expected:
            raise EvidenceInvalid(
                _("{file}: entry {n} is missing").format(file=JOURNAL, n=expected)
            )
        if held != previous:
            raise _changed(
                max(expected - 1, 1),
                _("entry {n} holds another hash of it").format(n=expected),
            )
        if key is not None and not hmac.compare_digest(
            str(entry.get("mac")), entry_mac(key, entry)
        ):
            raise _changed(expected, _("its MAC does not hold"))
        previous, expected = sha256(line), expected + 1
    if expected - 1 < entries:
        raise EvidenceInvalid(_("{file}: entry {n} is missing").format(file=JOURNAL, n=expected))
    if expected - 1 > entries or previous != last:
        raise _changed(expected - 1, _("it is not the last entry signed"))


def _changed(number: int, why: str) -> EvidenceInvalid:
    return EvidenceInvalid(
        _("{file}: entry {n} was changed ({why})").format(file=JOURNAL, n=number, why=why)
    )


def verify_pack(data: bytes, key: bytes) -> Verified:
    """Check the signature, the journal's chain and every file's hash, in this order."""
    try:
        pack = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise EvidenceInvalid(_("not a zip file: not an evidence pack")) from None
    with pack:
        manifest = _manifest(pack, key)
        files: dict[str, Any] = manifest["files"]
        chain = manifest.get("journal") or {}
        if JOURNAL in files:
            check_journal(
                _member(pack, JOURNAL),
                int(chain.get("entries", 0)),
                str(chain.get("last")),
                key if chain.get("signed") else None,
            )
        for name, digest in files.items():
            if sha256(_member(pack, name)) != digest:
                raise EvidenceInvalid(
                    _("{file}: its SHA-256 is not the one the manifest signed").format(file=name)
                )
        for name in pack.namelist():
            if name != MANIFEST and name not in files:
                raise EvidenceInvalid(
                    _("{file}: in the pack but not in the manifest").format(file=name)
                )
    return Verified(
        str(manifest.get("run", "")),
        str(manifest.get("made_at", "")),
        len(files),
        int(chain.get("entries", 0)),
        bool(chain.get("signed")),
    )

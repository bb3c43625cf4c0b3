"""The evidence pack (transition.results.evidence) built from a journal made here: it verifies; a
byte changed in any file, an entry of the journal removed or changed, its MACs taken away, or the
wrong key each makes verify fail and name the file, the entry or the signature. On a real Airflow:
tests/e2e/test_e2e_evidence.py."""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile

import pytest

from transition.errors import EvidenceInvalid
from transition.results.evidence import JOURNAL, MANIFEST, build_pack, verify_pack
from transition.runs import journal

KEY = b"the deployment's secret"
MADE_AT = dt.datetime(2027, 1, 17, 9, 0, tzinfo=dt.UTC)
FACTS = [
    ("request", "S", None, {"try": 1, "options": ["Start", "Close"], "assigned": ["alice"]}),
    ("answer", "S", "alice", {"try": 1, "options": ["Start"], "comment": None}),
    ("answer", "S", "alice", {"try": 1, "options": ["Close"], "comment": "done"}),
    ("transfer", "F1", "bob", {"id": 1, "to": "carol", "message": ""}),
    ("defect", "F1", "carol", {"id": 7, "title": "Counts differ — écart", "severity": "major"}),
    ("decision", "G", "carol", {"try": 1, "options": ["Go"], "comment": None}),
]
FILES = {
    "recap.json": b'{"steps": []}',
    "results.xlsx": bytes(range(256)) * 4,
    "review.html": "<html>Revue après l'exécution</html>".encode(),
}


def chain(key: bytes | None = KEY) -> list[str]:
    """The journal's lines, as the api-server writes them (transition.runs.journal.append)."""
    lines, previous = [], journal.GENESIS
    for number, (kind, step, by, fact) in enumerate(FACTS, 1):
        entry = journal.new_entry(number, previous, kind, fact, step, by)
        lines.append(journal.entry_line(entry, key).decode())
        previous = journal.sha256(lines[-1].encode())
    return lines


def pack(lines: list[str] | None = None, signed: bool = True) -> bytes:
    return build_pack("resa_dr1/manual__1", lines or chain(), signed, FILES, KEY, MADE_AT)


def members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {name: z.read(name) for name in z.namelist()}


def zipped(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(name, data)
    return out.getvalue()


def refused(data: bytes, key: bytes = KEY) -> str:
    with pytest.raises(EvidenceInvalid) as caught:
        verify_pack(data, key)
    return str(caught.value)


def test_a_pack_verifies_and_says_what_it_holds() -> None:
    verified = verify_pack(pack(), KEY)
    assert verified.run == "resa_dr1/manual__1" and verified.entries == len(FACTS)
    assert verified.files == len(FILES) + 1  # and the journal
    files = members(pack())
    manifest = json.loads(files[MANIFEST])
    assert manifest["algorithm"] == "HMAC-SHA256" and set(manifest["files"]) == {JOURNAL, *FILES}
    lines = files[JOURNAL].decode().splitlines()
    assert [json.loads(line)["kind"] for line in lines] == [fact[0] for fact in FACTS]
    assert json.loads(lines[0])["prev"] == "0" * 64
    assert verified.signed and manifest["journal"]["signed"]


def test_a_journal_without_its_macs_is_named_when_it_was_signed() -> None:
    assert "entry 1 was changed (its MAC does not hold)" in refused(pack(chain(key=None)))
    unsigned = verify_pack(pack(chain(key=None), signed=False), KEY)
    assert not unsigned.signed and unsigned.entries == len(FACTS)


@pytest.mark.parametrize("name", [JOURNAL, *FILES, MANIFEST])
def test_a_byte_changed_in_any_file_is_named(name: str) -> None:
    files = members(pack())
    body = bytearray(files[name])
    spot = body.index(b"7") if name in (JOURNAL, MANIFEST) else len(body) // 2
    body[spot] = ord("8") if body[spot] == ord("7") else body[spot] ^ 1
    files[name] = bytes(body)
    assert name in refused(zipped(files))


def test_a_byte_changed_in_the_zip_itself_is_named() -> None:
    data = bytearray(pack())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as z:
        info = z.getinfo("results.xlsx")
    # the stored (deflated) bytes: after the local header (30 bytes, the name, no extra field)
    data[info.header_offset + 30 + len(info.filename) + info.compress_size // 2] ^= 0xFF
    assert "results.xlsx" in refused(bytes(data))


def test_a_wrong_key_is_named_as_the_signature() -> None:
    message = refused(pack(), b"another key")
    assert "signature" in message and MANIFEST in message


@pytest.mark.parametrize("removed", [1, 3, 6])
def test_an_entry_removed_is_named(removed: int) -> None:
    files = members(pack())
    lines = files[JOURNAL].splitlines(keepends=True)
    del lines[removed - 1]
    files[JOURNAL] = b"".join(lines)
    assert f"entry {removed} is missing" in refused(zipped(files))


@pytest.mark.parametrize("changed", [1, 4, 6])
def test_an_entry_changed_is_named(changed: int) -> None:
    files = members(pack())
    lines = files[JOURNAL].splitlines(keepends=True)
    entry = json.loads(lines[changed - 1])
    entry["fact"]["tampered"] = True
    lines[changed - 1] = json.dumps(entry).encode() + b"\n"
    files[JOURNAL] = b"".join(lines)
    message = refused(zipped(files))
    assert f"{JOURNAL}: entry {changed} was changed" in message


def test_a_file_added_or_missing_is_named() -> None:
    files = members(pack())
    assert "extra.txt" in refused(zipped({**files, "extra.txt": b"x"}))
    del files["review.html"]
    assert "review.html" in refused(zipped(files))


def test_not_a_zip_says_so() -> None:
    assert "zip" in refused(b"not a zip at all")

"""The review printed to PDF by Debian's headless Chromium (the browser the tests drive): the same
rendering as on screen, the page's print stylesheet (A4), no Python dependency with native
libraries. Why not WeasyPrint: docs/command-line.md, ``transition review``."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from transition.errors import TransitionError

CHROMIUM = "/usr/bin/chromium"
TIMEOUT = 120.0  # seconds: a review of thousands of steps prints in a few
_PAGE = re.compile(rb"/Type\s*/Page(?![a-zA-Z])")


class PdfError(TransitionError):
    """The PDF could not be printed; the message says why."""


def chromium() -> str | None:
    """Chromium's program: on the PATH, else Debian's; None when there is none."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    return found or (CHROMIUM if Path(CHROMIUM).exists() else None)


def print_pdf(html: Path, pdf: Path, program: str | None = None, timeout: float = TIMEOUT) -> int:
    """Print ``html`` (a file) to ``pdf``; the number of pages. :class:`PdfError` otherwise."""
    program = program or chromium()
    if program is None:
        raise PdfError("no Chromium to print the PDF: install chromium or omit --pdf")
    pdf = pdf.resolve()
    pdf.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="transition-chromium-") as profile:
        command = [
            program,
            "--headless",
            "--no-sandbox",  # run as root in containers; the page is ours and runs no script
            "--disable-gpu",
            "--no-pdf-header-footer",
            "--no-first-run",
            f"--user-data-dir={profile}",
            f"--print-to-pdf={pdf}",
            html.resolve().as_uri(),
        ]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise PdfError(f"Chromium did not print {pdf} within {timeout:.0f} s") from None
        except OSError as exc:
            raise PdfError(f"cannot run {program}: {exc.strerror or exc}") from None
    if not pdf.exists() or pdf.stat().st_size == 0:
        said = (done.stderr or done.stdout).strip().splitlines()[-1:] or [f"exit {done.returncode}"]
        raise PdfError(f"Chromium did not print {pdf}: {said[0]}")
    return len(_PAGE.findall(pdf.read_bytes()))

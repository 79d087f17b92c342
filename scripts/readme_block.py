"""Replace a generated block of README.md (between two HTML comment markers)."""
from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Callable

from sisr_core.atomic import write_bytes

README = Path(__file__).resolve().parents[1] / "README.md"


def replace_block(start: str, end: str, text: str, readme: Path = README) -> None:
    """Put ``text`` between the ``start`` and ``end`` markers of ``readme``; refuse if they are missing."""
    body = readme.read_text()
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    if not pattern.search(body):
        raise SystemExit(f"{readme.name} has no {start} ... {end} block")
    write_bytes(readme, pattern.sub(lambda _: f"{start}\n{text}\n{end}", body))


def print_or_write(start: str, end: str, text: str, write: bool, what: str) -> None:
    """Print ``text``, or with ``write`` put it in README.md's block and say so."""
    if not write:
        print(text)
        return
    replace_block(start, end, text)
    print(f"README.md {what} updated")


def table_command(doc: str, start: str, end: str, make: Callable[[], str], what: str) -> None:
    """The command line of a script whose output is a README block: print it, or ``--write`` it in place."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("--write", action="store_true", help=f"replace the {what} in README.md")
    write = p.parse_args().write
    print_or_write(start, end, make(), write, what)

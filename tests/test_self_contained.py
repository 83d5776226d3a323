"""A clone of the repository is all the project needs: no file refers to a path outside it.

The chaos bench once read its data from a folder beside the checkout, so `make test` failed in
a fresh clone. Any such reference is caught here: a `../` path, `ROOT.parent`, or a
`Path(__file__)` climb (`.parent` chains or `.parents[k]`) that goes above the repository root.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEXT_SUFFIXES = {
    ".py",
    ".md",
    ".toml",
    ".ini",
    ".cfg",
    ".txt",
    ".yml",
    ".yaml",
    ".sh",
    ".js",
    ".html",
    ".css",
    ".json",
    "",
}  # "" : Makefile, Dockerfile, .ci/run
DOT_DOT = re.compile(r"\.\./")
ROOT_PARENT = re.compile(r"\bROOT\.parent\b(?!s\[0\])")
CLIMB_CHAIN = re.compile(r"Path\(__file__\)(?:\.resolve\(\))?((?:\.parent)+)\b")
CLIMB_INDEX = re.compile(r"Path\(__file__\)(?:\.resolve\(\))?\.parents\[(\d+)\]")


def project_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return [ROOT / p for p in listed if Path(p).suffix in TEXT_SUFFIXES and (ROOT / p).is_file()]


def outside_references(text: str, depth: int) -> list[str]:
    """What in `text`, of a file `depth` folders below the root, points outside the root."""
    found = [f"'{m.group(0)}'" for m in DOT_DOT.finditer(text)]
    found += [f"'{m.group(0)}'" for m in ROOT_PARENT.finditer(text)]
    for m in CLIMB_CHAIN.finditer(text):
        if m.group(1).count(".parent") - 1 > depth:
            found.append(f"'{m.group(0)}' climbs above the repository")
    for m in CLIMB_INDEX.finditer(text):
        if int(m.group(1)) > depth:
            found.append(f"'{m.group(0)}' climbs above the repository")
    return found


def test_no_file_refers_outside_the_repository() -> None:
    files = project_files()
    assert any(p.name == "chaos.py" for p in files)  # the listing really covers the tree
    offenders = {}
    for p in files:
        if p == Path(__file__).resolve():  # the checker: it describes the patterns it finds
            continue
        rel = p.relative_to(ROOT)
        refs = outside_references(p.read_text(errors="replace"), depth=len(rel.parts) - 1)
        if refs:
            offenders[str(rel)] = refs
    assert not offenders, f"paths outside the repository: {offenders}"


def test_the_check_catches_a_climb_out() -> None:
    # Each form of a path outside the tree, spelled from pieces so that this file holds none.
    up, root_parent = "." + "./", "ROOT" + ".parent"
    text = (
        f'DATA = {root_parent} / "elsewhere"\n'
        "X = Path(__file__).resolve().parents[2]\n"
        "Y = Path(__file__).parent.parent.parent\n"
        f"Z = '{up}elsewhere/data'\n"
        "OK = Path(__file__).resolve().parents[1]\n"
        "OK2 = Path(__file__).parent.parent\n"
    )
    assert len(outside_references(text, depth=1)) == 4  # a file in bench/, say
    assert outside_references("OK = Path(__file__).resolve().parents[1]\n", depth=1) == []

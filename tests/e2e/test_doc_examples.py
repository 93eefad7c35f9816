"""Every Python block of the README and of the docs a host reads runs as written, and ends.

Each block is a program of its own: it runs in a fresh interpreter, in an empty working
directory, with warnings as errors, no ``EXPORT_RESEND_*`` variable from outside, and a
timeout. A block meant for pytest (a test class) must still run as a module. The blocks run
a few at a time, once per session; each test reports one block.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
DOCUMENTS = ("README.md", "docs/embedding.md", "docs/exports.md", "docs/testing-kit.md")
TIMEOUT = 60.0
_FENCE = re.compile(r"^```python\n(.*?)^```$", re.S | re.M)


@dataclass(frozen=True)
class Block:
    """One fenced Python block: where it starts (the fence's line) and its text."""

    document: str
    line: int
    source: str

    @property
    def name(self) -> str:
        return f"{self.document}:{self.line}"


@dataclass(frozen=True)
class Outcome:
    returncode: int | None
    output: str


def blocks(document: str) -> list[Block]:
    """The ```python blocks of ``document``, in order."""
    text = (ROOT / document).read_text(encoding="utf-8")
    return [
        Block(document, text.count("\n", 0, match.start()) + 1, match[1])
        for match in _FENCE.finditer(text)
    ]


def clean_environment(**extra: str) -> dict[str, str]:
    """This process's environment without any ``EXPORT_RESEND_*`` variable, plus ``extra``."""
    kept = {k: v for k, v in os.environ.items() if not k.startswith("EXPORT_RESEND_")}
    return kept | {"PYTHONDONTWRITEBYTECODE": "1"} | extra


def run(source: str, *, timeout: float = TIMEOUT, **environment: str) -> Outcome:
    """Run ``source`` as a program in a fresh interpreter and an empty working directory."""
    with tempfile.TemporaryDirectory(prefix="doc-example-") as directory:
        program = Path(directory) / "example.py"
        program.write_text(source, encoding="utf-8")
        try:
            done = subprocess.run(
                [sys.executable, "-W", "error", str(program)],
                cwd=directory,
                env=clean_environment(**environment),
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as expired:
            return Outcome(None, f"still running after {timeout} s\n{expired.stdout!r}")
        return Outcome(done.returncode, done.stdout + done.stderr)


EVERY_BLOCK = [block for document in DOCUMENTS for block in blocks(document)]


@cache
def outcomes() -> dict[Block, Outcome]:
    """Every block's outcome, run a few at a time (most of a run is importing)."""
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        return dict(zip(EVERY_BLOCK, pool.map(lambda b: run(b.source), EVERY_BLOCK), strict=True))


@pytest.mark.parametrize("block", [pytest.param(b, id=b.name) for b in EVERY_BLOCK])
def test_the_block_runs_as_written_and_ends(block: Block) -> None:
    outcome = outcomes()[block]
    assert outcome.returncode == 0, f"{block.name}:\n{outcome.output}"


def test_every_document_has_python_blocks() -> None:
    assert {b.document for b in EVERY_BLOCK} == set(DOCUMENTS)


def _row_source_example() -> Block:
    [block] = [b for b in blocks("docs/exports.md") if "class WarehouseRowSource" in b.source]
    return block


def test_the_row_source_example_exports_the_stored_utc_moment_wherever_the_process_runs() -> None:
    outcome = run(_row_source_example().source, TZ="America/New_York")
    assert outcome.returncode == 0, outcome.output
    assert "2026-10-31T09:15:00+00:00" in outcome.output


def test_converting_a_naive_utc_value_instead_would_be_off_by_the_local_zone() -> None:
    """The test above has teeth: under New York time, the conversion the example warns
    against turns 09:15Z into 14:15Z, and the example's own assertion says so."""
    example = _row_source_example().source
    converted = example.replace(
        "return value.replace(tzinfo=UTC)", "return value.astimezone(UTC)", 1
    )
    assert converted != example
    outcome = run(converted, TZ="America/New_York")
    assert outcome.returncode == 1
    assert "AssertionError" in outcome.output


OURS = ("README.md", "docs/embedding.md", "docs/exports.md")
"""The documents whose blocks are also held to our lint and format: testing-kit.md's list
imports for their own sake (which names come from where)."""


def test_the_blocks_read_like_our_code(tmp_path: Path) -> None:
    for block in (b for b in EVERY_BLOCK if b.document in OURS):
        name = f"{block.document}:{block.line}".replace("/", "_").replace(":", "_L")
        (tmp_path / f"{name.replace('.', '_')}.py").write_text(block.source)
    ruff = [sys.executable, "-m", "ruff"]
    settings = [
        "--line-length",
        "100",
        "--config",
        "lint.isort.known-first-party=['export_resend']",
    ]
    rules = "E,W,F,I,B,UP,SIM,RUF,C4,PIE,RET"  # ASYNC110 would refuse polling, which a host does
    checked = subprocess.run(
        [*ruff, "check", *settings, "--select", rules, "--output-format", "concise", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    formatted = subprocess.run(
        [*ruff, "format", "--check", "--diff", *settings, str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert formatted.returncode == 0, formatted.stdout + formatted.stderr

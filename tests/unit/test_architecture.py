"""The dependency rule, checked on the source itself (import-linter checks it in CI too)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import export_resend

PACKAGE = Path(export_resend.__file__).parent


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


def test_the_domain_imports_only_the_standard_library_and_itself() -> None:
    offenders = {
        f"{path.relative_to(PACKAGE)}: {module}"
        for path in (PACKAGE / "domain").rglob("*.py")
        for module in _imported_modules(path)
        if module.partition(".")[0] not in sys.stdlib_module_names
        and not module.startswith("export_resend.domain")
        and module != "__future__"
    }
    assert offenders == set()


def test_importing_the_package_reads_no_setting_and_opens_nothing(tmp_path: Path) -> None:
    # settings that would fail if read, and an empty directory: importing must not care
    env = {
        "PATH": os.environ.get("PATH", ""),
        "EXPORT_RESEND_MAILER": "carrier-pigeon",
        "EXPORT_RESEND_DATABASE_URL": "postgresql+asyncpg://nowhere.invalid/x",
        "EXPORT_RESEND_LINK_TTL": "never",
    }
    modules = sorted(
        "export_resend." + ".".join(p.relative_to(PACKAGE).with_suffix("").parts)
        for p in PACKAGE.rglob("*.py")
        # migration scripts are run by Alembic and __main__ by `python -m`, never imported
        if p.name not in ("__init__.py", "__main__.py") and "migrations" not in p.parts
    )
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import importlib; [importlib.import_module(m) for m in {modules}]",
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert list(tmp_path.iterdir()) == []

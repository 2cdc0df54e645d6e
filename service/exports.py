"""Export files for dashboards: written atomically (temp file + rename), manifest last.

Schema (docs/exports.md) is versioned by EXPORT_SCHEMA_VERSION; changing columns is a breaking
change recorded in CHANGELOG.md.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from kpi.periods import Period
from storage.leases import process_gone

EXPORT_SCHEMA_VERSION = 2
COLUMNS = (
    "kpi",
    "family",
    "stage",
    "stage_label",
    "period_start",
    "period_end",
    "dimension",
    "dimension_value",
    "dimension_label",
    "period_label",
    "complete",
    "value",
    "numerator",
    "denominator",
    "unit",
    "reason",
    "basis",
    "run_id",
    "computed_at",
    "stale_since",
)
FORMATS = ("csv", "json", "parquet")


def export_rows(
    rows: Iterable[dict[str, Any]], tz: ZoneInfo, *, period_kind: str, as_of: datetime
) -> list[dict[str, Any]]:
    """Stored KPI history rows as export rows (docs/exports.md): ISO-8601 text times, period
    bounds in the reporting zone, the period's label (`2026-11`, `2026-Q4`, `2026-W48`) and
    whether it had ended by `as_of` (`complete`; snapshots are complete)."""
    out = []
    for r in rows:
        start, end, stale = r["period_start"], r["period_end"], r.get("stale_since")
        local = Period(start.astimezone(tz), end.astimezone(tz), period_kind) if start is not None else None
        out.append(
            {
                **{k: r.get(k) for k in COLUMNS},
                "period_start": local.start.isoformat() if local else None,
                "period_end": local.end.isoformat() if local else end.isoformat(),
                "period_label": local.label if local else "",
                "complete": end <= as_of if local else True,
                "computed_at": r["computed_at"].isoformat(),
                "stale_since": stale.isoformat() if stale is not None else None,
            }
        )
    return out


TEMP_SUFFIX = ".tmp"


def sweep_stale_temp_files(out_dir: Path) -> list[str]:
    """Remove temp files whose writer is gone (killed mid-write); returns their names."""
    removed: list[str] = []
    if not out_dir.is_dir():
        return removed
    for path in out_dir.glob(f".*{TEMP_SUFFIX}"):
        found = re.search(r"\.pid(\d+)\.", path.name)
        pid = int(found[1]) if found else None
        if pid is not None and pid != os.getpid() and process_gone(pid):
            path.unlink(missing_ok=True)
            removed.append(path.name)
    return removed


class ExportError(RuntimeError):
    """An export that cannot be written (e.g. Parquet without pyarrow)."""


@dataclass(frozen=True)
class ExportedFile:
    name: str
    rows: int
    sha256: str
    bytes: int


def _atomic_write(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Readers see the old file or the new one, never half of one. The temp file carries the
    writer's pid, so one left by a killed writer can be told from one being written; it is
    created 0600 and given `mode` (`export_mode`) before it replaces the file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.pid{os.getpid()}.", suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def csv_text(rows: Iterable[dict[str, Any]]) -> str:
    """Rows as CSV with the export columns; text that a spreadsheet would run as a formula is
    neutralised (`csv_cell`). Files and `/api/kpis?format=csv` both write it."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: csv_cell(row.get(k)) for k in COLUMNS})
    return buffer.getvalue()


# What makes Excel, LibreOffice and Google Sheets read a cell as a formula (OWASP, "CSV Injection").
FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """A CSV cell: empty for None; text starting like a formula gets a leading `'`, which the
    spreadsheet shows as text (CRM values such as a source `=HYPERLINK(...)` must not run).
    Numbers are left alone (a negative number is not text); JSON and Parquet keep raw values."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value.startswith(FORMULA_LEADS):
        return "'" + value
    return value


def _csv_bytes(rows: Iterable[dict[str, Any]]) -> bytes:
    return csv_text(rows).encode("utf-8")


TIME_COLUMNS = ("period_start", "period_end", "computed_at", "stale_since")


def _typed(column: str, value: Any) -> Any:
    """A value as Parquet stores it: times as instants (UTC), numbers as floats."""
    if value is None:
        return None
    if column in TIME_COLUMNS:
        return datetime.fromisoformat(value) if isinstance(value, str) else value
    if column in ("value", "numerator", "denominator"):
        return float(value)
    return value


def _parquet_bytes(rows: Sequence[dict[str, Any]]) -> bytes:
    """Typed Parquet: timestamps (UTC instants), floats, a 64-bit run id, a boolean `complete`."""
    try:
        import pyarrow as pa  # type: ignore[import-not-found, unused-ignore]
        import pyarrow.parquet as pq  # type: ignore[import-not-found, unused-ignore]
    except ImportError as exc:
        raise ExportError("Parquet export needs pyarrow: pip install 'funnelsync[parquet]'") from exc
    stamp = pa.timestamp("us", tz="UTC")
    types = {
        "period_start": stamp,
        "period_end": stamp,
        "computed_at": stamp,
        "stale_since": stamp,
        "value": pa.float64(),
        "numerator": pa.float64(),
        "denominator": pa.float64(),
        "run_id": pa.int64(),
        "complete": pa.bool_(),
    }
    schema = pa.schema([(k, types.get(k, pa.string())) for k in COLUMNS])
    table = pa.Table.from_pylist([{k: _typed(k, r.get(k)) for k in COLUMNS} for r in rows], schema=schema)
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def write_exports(
    out_dir: Path,
    rows: Sequence[dict[str, Any]],
    *,
    run_id: int | None,
    as_of: datetime,
    generated_at: datetime,
    currency: str,
    timezone: str,
    formats: Sequence[str] = ("csv", "json"),
    mode: int = 0o600,
) -> list[ExportedFile]:
    """kpis.csv / kpis.json (+ kpis.parquet), one CSV per family, then manifest.json, each with
    the permissions `mode`."""
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ExportError(f"unknown export format(s) {', '.join(unknown)}; choose from {', '.join(FORMATS)}")
    files: list[tuple[str, bytes, int]] = []
    if "csv" in formats:
        files.append(("kpis.csv", _csv_bytes(rows), len(rows)))
        for family in sorted({r["family"] for r in rows}):
            subset = [r for r in rows if r["family"] == family]
            files.append((f"kpis_{family}.csv", _csv_bytes(subset), len(subset)))
    if "json" in formats:
        document = {
            "schema_version": EXPORT_SCHEMA_VERSION,
            "run_id": run_id,
            "as_of": as_of.isoformat(),
            "currency": currency,
            "timezone": timezone,
            "values": [{k: r.get(k) for k in COLUMNS} for r in rows],
        }
        files.append(("kpis.json", json.dumps(document, indent=1).encode(), len(rows)))
    if "parquet" in formats:
        files.append(("kpis.parquet", _parquet_bytes(rows), len(rows)))
    sweep_stale_temp_files(out_dir)
    exported: list[ExportedFile] = []
    for name, data, count in files:
        _atomic_write(out_dir / name, data, mode)
        exported.append(ExportedFile(name, count, hashlib.sha256(data).hexdigest(), len(data)))
    manifest = {
        "schema_version": EXPORT_SCHEMA_VERSION,
        "generated_at": generated_at.isoformat(),
        "run_id": run_id,
        "as_of": as_of.isoformat(),
        "currency": currency,
        "timezone": timezone,
        "files": [{"name": f.name, "rows": f.rows, "sha256": f.sha256, "bytes": f.bytes} for f in exported],
    }
    _atomic_write(out_dir / "manifest.json", json.dumps(manifest, indent=2).encode(), mode)
    return exported

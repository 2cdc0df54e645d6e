"""`funnelsync spend import`: validated CSV of marketing spend, re-importable without duplicates.

Columns: period_start, period_end, channel (or source), amount, currency. Dates are ISO
(YYYY-MM-DD, both ends inclusive). The whole file is checked before anything is stored, and
every problem is reported with its line number.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from storage import require_current
from storage.kpis import save_spend

REQUIRED = ("period_start", "period_end", "amount", "currency")


class SpendFileError(ValueError):
    """A spend file that cannot be imported; `problems` lists each one with its line."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        shown = problems[:20] + ([f"… and {len(problems) - 20} more"] if len(problems) > 20 else [])
        super().__init__(f"{path}: {len(problems)} problem(s)\n  " + "\n  ".join(shown))
        self.problems = problems


@dataclass(frozen=True)
class SpendRow:
    line: int
    period_start: date
    period_end: date
    channel: str
    amount: float
    currency: str


def _amount(text: str) -> float:
    value = float(text.replace(" ", "").replace("\u00a0", "").replace(",", ""))
    if not math.isfinite(value) or value < 0:
        raise ValueError("must be a non-negative number")
    return value


def parse_spend_csv(path: Path) -> list[SpendRow]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise SpendFileError(path, [f"cannot read: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError as exc:
        raise SpendFileError(path, [f"not UTF-8 text (byte {exc.start}): is it a CSV file?"]) from None
    if "\x00" in text:
        raise SpendFileError(path, ["holds NUL bytes: is it a CSV file?"])
    reader = csv.DictReader(text.splitlines())
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    reader.fieldnames = header
    missing = [c for c in REQUIRED if c not in header]
    if "channel" not in header and "source" not in header:
        missing.append("channel (or source)")
    if missing:
        raise SpendFileError(path, [f"line 1: missing column(s): {', '.join(missing)}"])
    rows: list[SpendRow] = []
    problems: list[str] = []
    seen: dict[tuple[date, date, str], int] = {}
    for number, record in enumerate(reader, start=2):
        if not any((v or "").strip() for v in record.values() if isinstance(v, str)):
            continue  # blank line
        problem_count = len(problems)
        values: dict[str, Any] = {}
        for column in ("period_start", "period_end"):
            raw = (record.get(column) or "").strip()
            try:
                values[column] = date.fromisoformat(raw)
            except ValueError:
                problems.append(f"line {number}: {column} {raw!r} is not a date (YYYY-MM-DD)")
        channel = (record.get("channel") or record.get("source") or "").strip() or "all"
        raw_amount = (record.get("amount") or "").strip()
        try:
            values["amount"] = _amount(raw_amount)
        except ValueError:
            problems.append(f"line {number}: amount {raw_amount!r} must be a non-negative number")
        currency = (record.get("currency") or "").strip().upper()
        if len(currency) != 3 or not currency.isalpha():
            problems.append(f"line {number}: currency {currency!r} is not a 3-letter ISO code")
        if len(problems) > problem_count:
            continue
        start, end = values["period_start"], values["period_end"]
        if end < start:
            problems.append(f"line {number}: period_end {end} is before period_start {start}")
            continue
        key = (start, end, channel)
        if key in seen:
            problems.append(f"line {number}: same period and channel as line {seen[key]}")
            continue
        seen[key] = number
        rows.append(SpendRow(number, start, end, channel, values["amount"], currency))
    if problems:
        raise SpendFileError(path, problems)
    return rows


def spend_records(
    rows: list[SpendRow], *, connection: str, path: Path, now: datetime
) -> list[dict[str, Any]]:
    return [
        {
            "connection": connection,
            "period_start": r.period_start,
            "period_end": r.period_end,
            "channel": r.channel,
            "amount": r.amount,
            "currency": r.currency,
            "source_file": path.name,
            "imported_at": now,
        }
        for r in rows
    ]


def import_spend_file(engine: Engine, path: Path, *, connection: str, now: datetime) -> list[SpendRow]:
    """Validate the whole file, then store its rows (replacing same period and channel)."""
    rows = parse_spend_csv(path)
    require_current(engine)
    save_spend(engine, spend_records(rows, connection=connection, path=path, now=now))
    return rows

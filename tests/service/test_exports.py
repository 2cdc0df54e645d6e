"""Export files: atomic writes, manifest checksums, every format parses back to the same rows."""

from __future__ import annotations

import csv
import hashlib
import json
from datetime import UTC, datetime

import pyarrow.parquet as pq
import pytest

from service.exports import COLUMNS, ExportError, write_exports

NOW = datetime(2025, 4, 10, 12, tzinfo=UTC)


def rows() -> list[dict[str, object]]:
    base = {
        "period_end": "2025-02-01T00:00:00+01:00",
        "period_label": "2025-01",
        "complete": True,
        "run_id": 7,
        "computed_at": NOW.isoformat(),
    }
    return [
        {
            **base,
            "kpi": "win_rate",
            "family": "pipeline",
            "stage": "",
            "period_start": "2025-01-01T00:00:00+01:00",
            "dimension": "all",
            "dimension_value": "all",
            "value": 0.75,
            "numerator": 3,
            "denominator": 4,
            "unit": "share",
            "reason": None,
        },
        {
            **base,
            "kpi": "stage_conversion",
            "family": "funnel",
            "stage": "lead>customer",
            "period_start": "2025-01-01T00:00:00+01:00",
            "dimension": "source",
            "dimension_value": "PAID_SEARCH",
            "value": None,
            "numerator": 0,
            "denominator": 0,
            "unit": "share",
            "reason": "no_base",
        },
    ]


def test_all_formats_and_manifest(tmp_path):
    files = write_exports(
        tmp_path,
        rows(),
        run_id=7,
        as_of=NOW,
        generated_at=NOW,
        currency="SEK",
        timezone="Europe/Stockholm",
        formats=["csv", "json", "parquet"],
    )
    names = {f.name for f in files}
    assert names == {"kpis.csv", "kpis_funnel.csv", "kpis_pipeline.csv", "kpis.json", "kpis.parquet"}
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["run_id"] == 7 and manifest["schema_version"] == 2
    for entry in manifest["files"]:
        assert hashlib.sha256((tmp_path / entry["name"]).read_bytes()).hexdigest() == entry["sha256"]
    parsed = list(csv.DictReader((tmp_path / "kpis.csv").read_text().splitlines()))
    assert [r["kpi"] for r in parsed] == ["win_rate", "stage_conversion"]
    assert parsed[1]["value"] == "" and parsed[1]["reason"] == "no_base"
    document = json.loads((tmp_path / "kpis.json").read_text())
    assert document["values"][0]["value"] == 0.75 and document["values"][1]["value"] is None
    table = pq.read_table(tmp_path / "kpis.parquet")
    assert table.column_names == list(COLUMNS) and table.num_rows == 2
    # Typed: instants, floats, a 64-bit run id, a boolean.
    types = {field.name: str(field.type) for field in table.schema}
    assert types["period_start"] == types["computed_at"] == "timestamp[us, tz=UTC]"
    assert types["value"] == "double" and types["run_id"] == "int64" and types["complete"] == "bool"
    assert table.column("period_start").to_pylist()[0] == datetime(2024, 12, 31, 23, tzinfo=UTC)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_rewrites_replace_files_whole(tmp_path):
    write_exports(tmp_path, rows(), run_id=7, as_of=NOW, generated_at=NOW, currency="SEK", timezone="UTC")
    write_exports(tmp_path, rows()[:1], run_id=8, as_of=NOW, generated_at=NOW, currency="SEK", timezone="UTC")
    assert len((tmp_path / "kpis.csv").read_text().splitlines()) == 2
    assert json.loads((tmp_path / "manifest.json").read_text())["run_id"] == 8


def test_unknown_format(tmp_path):
    with pytest.raises(ExportError, match="unknown export format"):
        write_exports(
            tmp_path,
            rows(),
            run_id=1,
            as_of=NOW,
            generated_at=NOW,
            currency="SEK",
            timezone="UTC",
            formats=["xlsx"],
        )


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ('=HYPERLINK("http://x","click")', '\'=HYPERLINK("http://x","click")'),
        ("+1+1", "'+1+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tTAB", "'\tTAB"),
        ("\rCR", "'\rCR"),
        ("PAID_SEARCH", "PAID_SEARCH"),
        (-4.5, -4.5),
        (None, ""),
    ],
)
def test_csv_cells_that_a_spreadsheet_would_run_are_neutralised(value, cell):
    from service.exports import csv_cell

    assert csv_cell(value) == cell


def test_formula_text_is_neutralised_in_csv_files_and_kept_raw_in_json_and_parquet(tmp_path):
    """OWASP's CSV-injection advice: a leading quote in CSV; the JSON and Parquet values unchanged."""
    evil = '=HYPERLINK("http://x","click")'
    data = rows()
    data[1]["dimension_value"] = evil
    write_exports(
        tmp_path,
        data,
        run_id=7,
        as_of=NOW,
        generated_at=NOW,
        currency="SEK",
        timezone="UTC",
        formats=("csv", "json", "parquet"),
    )
    with (tmp_path / "kpis.csv").open() as handle:
        cells = [r["dimension_value"] for r in csv.DictReader(handle)]
    with (tmp_path / "kpis_funnel.csv").open() as handle:
        family = [r["dimension_value"] for r in csv.DictReader(handle)]
    assert cells == ["all", "'" + evil] and family == ["'" + evil]
    assert [v["dimension_value"] for v in json.loads((tmp_path / "kpis.json").read_text())["values"]][
        1
    ] == evil
    assert pq.read_table(tmp_path / "kpis.parquet").column("dimension_value").to_pylist()[1] == evil


@pytest.mark.parametrize("mode", [0o600, 0o640])
def test_export_files_get_the_configured_mode(tmp_path, mode):
    write_exports(
        tmp_path, rows(), run_id=7, as_of=NOW, generated_at=NOW, currency="SEK", timezone="UTC", mode=mode
    )
    modes = {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir()}
    assert modes and set(modes.values()) == {mode}

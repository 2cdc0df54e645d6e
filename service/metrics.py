"""`/metrics` in Prometheus' text format: read from the database at scrape time.

The runs table and the KPI history are the truth, shared by every replica, so each scrape
reports the same numbers whichever replica answers; nothing is counted in process memory.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, select

from config import Settings
from kpi.headline import headline
from storage.db import table_of
from storage.kpis import kpi_rows, latest_kpi_run
from storage.models import SyncRun
from storage.runs import ACTIVE, last_success, latest_runs

STREAM_LABELS = ["connection", "source", "stream"]


class FunnelsyncCollector(Collector):
    """Sync counters and durations per stream, and headline KPIs per connection."""

    def __init__(self, settings: Settings, engine: Engine) -> None:
        self.settings = settings
        self.engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        yield from self._sync_counters()
        yield from self._latest_runs()
        yield from self._kpi_metrics()

    def _sync_counters(self) -> Iterator[CounterMetricFamily]:
        """Runs by how they ended, and what they did, per stream over every run."""
        runs = table_of(SyncRun)
        totals = select(
            runs.c.connection,
            runs.c.source,
            runs.c.stream,
            runs.c.status,
            func.count(),
            func.sum(runs.c.records_read),
            func.sum(runs.c.records_written),
            func.sum(runs.c.records_rejected),
            func.sum(runs.c.requests),
            func.sum(runs.c.retries),
            func.sum(runs.c.rate_limited),
        ).group_by(runs.c.connection, runs.c.source, runs.c.stream, runs.c.status)
        with self.engine.connect() as conn:
            rows = conn.execute(totals).all()
        runs_total = CounterMetricFamily(
            "funnelsync_sync_runs", "Sync runs by how they ended", labels=[*STREAM_LABELS, "status"]
        )
        counters = {
            name: CounterMetricFamily(f"funnelsync_sync_{name}", help_text, labels=STREAM_LABELS)
            for name, help_text in (
                ("records_read", "Records read from the vendor API"),
                ("records_written", "Records written to the database"),
                ("records_rejected", "Records rejected as malformed (quarantined)"),
                ("requests", "HTTP requests made"),
                ("retries", "Requests retried"),
                ("rate_limited", "HTTP 429 answers received"),
            )
        }
        sums: dict[tuple[str, str, str], list[float]] = defaultdict(lambda: [0.0] * 6)
        for row in rows:
            key = (row[0], row[1], row[2])
            runs_total.add_metric([*key, row[3]], row[4])
            for i in range(6):
                sums[key][i] += float(row[5 + i] or 0)
        for key, values in sums.items():
            for family, value in zip(counters.values(), values, strict=True):
                family.add_metric(list(key), value)
        yield runs_total
        yield from counters.values()

    def _latest_runs(self) -> Iterator[GaugeMetricFamily]:
        """Each stream's latest run (duration, going, failed) and its last success."""
        duration = GaugeMetricFamily(
            "funnelsync_sync_last_duration_seconds", "Duration of the last finished run", labels=STREAM_LABELS
        )
        running = GaugeMetricFamily(
            "funnelsync_sync_running", "1 while a run of the stream is queued or going", labels=STREAM_LABELS
        )
        failed = GaugeMetricFamily(
            "funnelsync_sync_last_failed", "1 when the stream's last run failed", labels=STREAM_LABELS
        )
        unavailable = GaugeMetricFamily(
            "funnelsync_sync_unavailable",
            "1 when the stream's last run found it unavailable (a missing scope, an API the account lacks)",
            labels=STREAM_LABELS,
        )
        for run in latest_runs(self.engine):
            labels = [run.connection, run.source, run.stream]
            if run.finished_at is not None:
                duration.add_metric(labels, (run.finished_at - run.started_at).total_seconds())
            running.add_metric(labels, 1.0 if run.status in ACTIVE else 0.0)
            failed.add_metric(labels, 1.0 if run.status == "failed" else 0.0)
            unavailable.add_metric(labels, 1.0 if run.status == "unavailable" else 0.0)
        success = GaugeMetricFamily(
            "funnelsync_sync_last_success_timestamp_seconds",
            "When the stream last finished a successful sync (Unix time)",
            labels=STREAM_LABELS,
        )
        for (connection, source, stream), at in last_success(self.engine).items():
            success.add_metric([connection, source, stream], at.timestamp())
        yield from (duration, running, failed, unavailable, success)

    def _kpi_metrics(self) -> Iterator[GaugeMetricFamily]:
        stage_count = GaugeMetricFamily(
            "funnelsync_stage_contacts",
            "Contacts whose lifecycle stage is the stage now",
            labels=["connection", "stage"],
        )
        conversion = GaugeMetricFamily(
            "funnelsync_stage_conversion_ratio",
            "Cohort conversion from a funnel stage to the next over the KPI grid",
            labels=["connection", "step"],
        )
        singles = {
            name: GaugeMetricFamily(f"funnelsync_{name}", help_text, labels=["connection"])
            for name, help_text in (
                ("open_deals", "Open deals now"),
                ("open_pipeline", "Sum of open deals' amounts, home currency"),
                ("weighted_pipeline", "Open amounts weighted by stage probability, home currency"),
                ("win_rate_ratio", "Won / (won + lost) over the KPI grid"),
                ("days_to_close_mean", "Mean days from deal creation to close-won over the KPI grid"),
                ("lead_to_customer_ratio", "Cohort conversion from the first funnel stage to the last"),
                ("kpi_computed_timestamp_seconds", "When the KPIs were last computed (Unix time)"),
            )
        }
        for name in self.settings.connection_names():
            run = latest_kpi_run(self.engine, connection=name)
            if run is None or run.id is None:
                continue
            rows = kpi_rows(self.engine, run_id=run.id)
            top = headline(rows, self.settings.kpi.funnel_stages)
            for stage, contacts in top.stage_counts.items():
                stage_count.add_metric([name, stage], contacts)
            for step in top.funnel:
                if step.next_stage and step.conversion_rate is not None:
                    conversion.add_metric([name, f"{step.stage}>{step.next_stage}"], step.conversion_rate)
            values: dict[str, float | None] = {
                "open_deals": top.open_deals,
                "open_pipeline": top.open_pipeline,
                "weighted_pipeline": top.weighted_pipeline,
                "win_rate_ratio": top.win_rate,
                "days_to_close_mean": top.days_to_close_mean,
                "lead_to_customer_ratio": top.lead_to_customer_rate,
                "kpi_computed_timestamp_seconds": run.computed_at.timestamp(),
            }
            for metric, value in values.items():
                if value is not None:
                    singles[metric].add_metric([name], value)
        yield stage_count
        yield conversion
        yield from singles.values()


def metrics_text(settings: Settings, engine: Engine) -> bytes:
    """One scrape: a fresh registry around the collector (no process-wide state)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FunnelsyncCollector(settings, engine))
    return generate_latest(registry)

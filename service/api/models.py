"""The shapes of the service API's requests and answers (its OpenAPI document)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from storage.models import SyncRun


class ResyncRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    connection: str | None = Field(default=None, description="Named connection (default: the only one).")
    streams: list[str] | None = Field(
        default=None,
        max_length=20,
        description="Only these streams (default: every stream with credentials).",
    )
    full: bool = Field(
        default=False, description="Re-read everything instead of changes since the last sync."
    )


class RunOut(BaseModel):
    id: int
    connection: str
    source: str
    stream: str
    mode: str
    trigger: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    seconds: float | None
    pages: int
    records_read: int
    records_expected: int | None = Field(
        default=None,
        description="What the run expects to read (the API's count, or the last such run's); null: unknown.",
    )
    records_written: int
    records_rejected: int
    fields_quarantined: int
    requests: int
    retries: int
    rate_limited: int
    error: str | None

    @classmethod
    def of(cls, run: SyncRun, now: datetime) -> RunOut:
        assert run.id is not None
        end = run.finished_at or (now if run.status in ("running", "cancelling") else None)
        return cls(
            **run.model_dump(exclude={"holder"}),
            seconds=round((end - run.started_at).total_seconds(), 3) if end else None,
        )


class ResyncAccepted(BaseModel):
    run_id: int = Field(description="The first queued run (one run per stream).")
    job_id: str
    connection: str
    runs: list[RunOut]


class Conflict(BaseModel):
    detail: str
    connection: str
    stream: str
    run_id: int


class Problem(BaseModel):
    detail: str


class Check(BaseModel):
    name: str
    ok: bool
    detail: str


class Readiness(BaseModel):
    ready: bool
    checks: list[Check]


class KpiRowOut(BaseModel):
    kpi: str
    family: str
    stage: str
    period_start: str | None
    period_end: str
    dimension: str
    dimension_value: str
    value: float | None
    numerator: float | None
    denominator: float | None
    unit: str
    reason: str | None
    basis: str
    run_id: int
    computed_at: str


class KpiPage(BaseModel):
    connection: str
    run_id: int
    as_of: datetime
    computed_at: datetime
    currency: str
    timezone: str
    period: str
    values: list[KpiRowOut]

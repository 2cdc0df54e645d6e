"""Every KPI, computed from `KpiInputs` by pure functions, one module per family (definitions:
docs/kpis.md)."""

from __future__ import annotations

from collections.abc import Callable

from kpi.attribution import attribution_kpis
from kpi.campaigns import campaign_kpis
from kpi.cycle import cycle_kpis, deal_stage_kpis
from kpi.email import audience_kpis, email_kpis
from kpi.forecast import forecast_kpis
from kpi.funnel import funnel_kpis, source_kpis
from kpi.inputs import KpiInputs
from kpi.model import KpiResult, KpiValue
from kpi.pipeline import pipeline_kpis
from kpi.spend import clv_kpis, spend_kpis
from kpi.traffic import persona_kpis, traffic_kpis

# In the order their values are listed in results and exports.
FAMILY_KPIS: tuple[Callable[[KpiInputs], list[KpiValue]], ...] = (
    funnel_kpis,
    source_kpis,
    pipeline_kpis,
    cycle_kpis,
    deal_stage_kpis,
    email_kpis,
    audience_kpis,
    spend_kpis,
    clv_kpis,
    attribution_kpis,
    campaign_kpis,
    forecast_kpis,
    traffic_kpis,
    persona_kpis,
)


def compute(inputs: KpiInputs) -> KpiResult:
    result = KpiResult(as_of=inputs.as_of, currency=inputs.currency)
    for family in FAMILY_KPIS:
        result.extend(family(inputs))
    return result

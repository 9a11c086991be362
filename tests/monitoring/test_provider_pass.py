"""A monitoring pass over one account of every tested provider type, each pointed at the
simulator profile that enforces that provider's request rules (the production path: rules,
warm-up, both routes in one pass). Timing figures: ``manage.py provider_bench``."""

import pytest

from arguslm.llmsim.accounts import strict_cases
from monitoring import services
from monitoring.models import MonitoringConfig, MonitoringRun, UptimeCheck
from tests.factories import make_account, make_model

pytestmark = pytest.mark.django_db


def test_every_tested_provider_type_is_up_with_exact_tokens(llmsim, sync_tasks):
    config = MonitoringConfig.get()
    config.max_tokens, config.timeout_seconds = 100, 10
    config.save()
    truth = {}
    for case in strict_cases(llmsim):
        account = make_account(
            provider_type=case.provider_type,
            display_name=case.label,
            credentials=case.credentials,
        )
        truth[make_model(account, model_id=case.model_id).pk] = case
    assert len({c.provider_type for c in truth.values()}) == 16

    run = MonitoringRun.objects.create()
    services.start_pass(run_id=run.id)

    run.refresh_from_db()
    checks = list(UptimeCheck.objects.filter(run=run))
    assert len(checks) == len(truth)
    for check in checks:
        case = truth[check.model_id]
        assert (check.status, check.error) == ("up", None), case.label
        assert (check.output_tokens, check.token_source) == (
            case.output_tokens,
            case.token_source,
        ), case.label
        assert check.ttft_ms >= case.ttft_ms - 1, case.label
    assert run.up == len(truth)

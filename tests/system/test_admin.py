"""The Django admin lists every model of the project's apps, and each list page renders."""

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.urls import reverse

from tests.factories import make_alert, make_check, make_model

APPS = ("arguslm", "providers", "monitoring", "benchmarks", "alerts", "dashboard")


def project_models():
    return [m for m in apps.get_models() if m._meta.app_label in APPS]


def test_every_model_of_the_project_is_in_the_admin():
    missing = [m.__name__ for m in project_models() if not admin.site.is_registered(m)]
    assert missing == []


@pytest.mark.django_db
def test_every_admin_list_and_change_page_renders(client):
    model = make_model()
    make_alert(model=model, message="down")
    make_check(model)
    superuser = get_user_model().objects.create_superuser("root", "r@x.org", "pw-root-12345")
    client.force_login(superuser)
    for m in project_models():
        opts = m._meta
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        assert client.get(url).status_code == 200, url
        obj = m.objects.first()
        if obj is not None:
            change = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
            assert client.get(change).status_code == 200, change

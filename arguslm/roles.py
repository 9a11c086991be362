"""Roles: three Django groups and the permissions each grants (docs/roles.md says it in words).

- **viewer** reads everything (never a secret: nobody reads those).
- **operator** also runs monitoring passes and benchmarks, acknowledges alerts, and edits
  saved benchmarks, alert rules, maintenance windows and SLOs.
- **admin** also manages provider accounts and their credentials, models, monitoring settings,
  public status pages and users.

Every write checks one Django permission, named where the write is exposed: the API's
``action_permissions`` (``arguslm.auth.ActionPermission``) and the pages' ``permission_required``
(``arguslm.pages``); the Django admin uses the same model permissions. Superusers have all of
them. A new user starts as viewer (unless a superuser). Groups are kept in step with this
table after every ``migrate``.
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db.models import Q

VIEWER, OPERATOR, ADMIN = "viewer", "operator", "admin"
GROUPS = {VIEWER: "Viewer", OPERATOR: "Operator", ADMIN: "Admin"}

# What each role may change, as "app_label.codename" (each role has its lower roles' too).
OPERATOR_PERMISSIONS = (
    "monitoring.add_monitoringrun",  # run a pass now
    "benchmarks.add_benchmarkrun",  # start (and re-run)
    "benchmarks.change_benchmarkrun",  # cancel
    "benchmarks.delete_benchmarkrun",
    "benchmarks.add_benchmarktemplate",  # save a benchmark, with or without a schedule
    "benchmarks.change_benchmarktemplate",  # edit, pause, set the baseline run
    "benchmarks.delete_benchmarktemplate",
    "alerts.change_alert",  # acknowledge
    "alerts.add_alertrule",
    "alerts.change_alertrule",  # edit, switch on/off, test, rotate the signing secret
    "alerts.delete_alertrule",
    "monitoring.add_maintenancewindow",
    "monitoring.change_maintenancewindow",
    "monitoring.delete_maintenancewindow",
    "monitoring.add_slo",
    "monitoring.change_slo",
    "monitoring.delete_slo",
    "monitoring.change_modelbaseline",  # accept a model's current answers (monitoring.drift)
)
ADMIN_PERMISSIONS = (
    "providers.add_provideraccount",  # and testing unsaved credentials
    "providers.change_provideraccount",  # credentials, tags, test, refresh models
    "providers.delete_provideraccount",
    "providers.add_llmmodel",
    "providers.change_llmmodel",  # names, tags, monitoring and benchmark switches
    "providers.delete_llmmodel",
    "monitoring.change_monitoringconfig",
    "auth.add_user",
    "auth.change_user",
    "auth.delete_user",
    "auth.view_user",
    "arguslm.view_apitoken",
    "arguslm.delete_apitoken",  # revoke anyone's token
    "dashboard.add_statuspage",  # publish models on a public status page
    "dashboard.change_statuspage",
    "dashboard.delete_statuspage",
)
# Reading, for the admin site (the API and the pages let every signed-in user read).
VIEW_APPS = ("providers", "monitoring", "benchmarks", "alerts", "dashboard")


def permissions_of(role: str) -> list[str]:
    view = [
        f"{p.content_type.app_label}.{p.codename}"
        for p in Permission.objects.filter(
            content_type__app_label__in=VIEW_APPS, codename__startswith="view_"
        ).select_related("content_type")
    ]
    granted = {VIEWER: (), OPERATOR: OPERATOR_PERMISSIONS}.get(
        role, OPERATOR_PERMISSIONS + ADMIN_PERMISSIONS
    )
    return sorted({*view, *granted})


def _permission_objects(names: list[str]) -> list[Permission]:
    query = Q()
    for name in names:
        app_label, codename = name.split(".")
        query |= Q(content_type__app_label=app_label, codename=codename)
    return list(Permission.objects.filter(query))


def sync_groups(using: str = "default", **kwargs) -> None:
    """After ``migrate``: the three groups with exactly their permissions.

    The first time (no role group yet: an upgrade from before roles), the users who exist
    keep working: staff become admins, the others operators; superusers need no group.
    """
    from django.apps import apps
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():  # the later apps' are not made yet
        create_permissions(app_config, verbosity=0, using=using)
    first_time = not Group.objects.filter(name__in=GROUPS.values()).exists()
    for role, name in GROUPS.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.set(_permission_objects(permissions_of(role)))
    if first_time:
        for user in get_user_model().objects.filter(is_superuser=False):
            assign(user, ADMIN if user.is_staff else OPERATOR)


def assign(user, role: str) -> None:
    """Make ``user`` have exactly this role (the other role groups are left)."""
    user.groups.remove(*Group.objects.filter(name__in=GROUPS.values()))
    user.groups.add(Group.objects.get_or_create(name=GROUPS[role])[0])


def role_of(user) -> str | None:
    """The highest role of a user ("admin" for a superuser), or None."""
    if user.is_superuser:
        return ADMIN
    names = set(user.groups.values_list("name", flat=True))
    for role in (ADMIN, OPERATOR, VIEWER):
        if GROUPS[role] in names:
            return role
    return None


def start_as_viewer(sender, instance, created, raw=False, **kwargs) -> None:
    """post_save of the user model: a new user (not a superuser) starts as viewer."""
    if created and not raw and not instance.is_superuser:
        group, _ = Group.objects.get_or_create(name=GROUPS[VIEWER])
        instance.groups.add(group)

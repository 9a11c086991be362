"""URL map: system endpoints, API under /api/v1, OpenAPI docs, admin and pages."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import (
    SpectacularJSONAPIView,
    SpectacularRedocView,
    SpectacularSwaggerSplitView,
    SpectacularYAMLAPIView,
)

from arguslm import views
from arguslm.security import RateLimitedLoginView, rate_limited_login

urlpatterns = [
    path("", views.root, name="root"),
    path("health", views.health, name="health"),
    path("ready", views.ready, name="ready"),
    path("api/v1/", include("arguslm.api_urls")),
    # JSON whatever the Accept header says (the default view answers YAML to a plain GET).
    path("openapi.json", SpectacularJSONAPIView.as_view(), name="openapi-schema"),
    path("openapi.yaml", SpectacularYAMLAPIView.as_view(), name="openapi-yaml"),
    # The split view serves Swagger UI's init script as a file: no inline script, strict CSP.
    path("docs", SpectacularSwaggerSplitView.as_view(url_name="openapi-schema"), name="docs"),
    path("redoc", SpectacularRedocView.as_view(url_name="openapi-schema"), name="redoc"),
    # The admin's login gets the same brute-force limit as /login (before admin.site.urls).
    path("admin/login/", rate_limited_login(admin.site.login)),
    path("admin/", admin.site.urls),
    path("login", RateLimitedLoginView.as_view(), name="login"),
    path("logout", auth_views.LogoutView.as_view(), name="logout"),
    path("settings", views.settings_page, name="settings"),
    path("", include("providers.urls")),
    path("", include("benchmarks.urls")),
    path("", include("alerts.urls")),
    path("", include("monitoring.page_urls")),
    path("", include("dashboard.urls")),
]

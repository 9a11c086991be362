"""URL map: system endpoints, API under /api/v1, OpenAPI docs, admin and pages."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from arguslm import views

urlpatterns = [
    path("", views.root, name="root"),
    path("health", views.health, name="health"),
    path("ready", views.ready, name="ready"),
    path("api/v1/", include("arguslm.api_urls")),
    path("openapi.json", SpectacularAPIView.as_view(), name="openapi-schema"),
    path("docs", SpectacularSwaggerView.as_view(url_name="openapi-schema"), name="docs"),
    path("redoc", SpectacularRedocView.as_view(url_name="openapi-schema"), name="redoc"),
    path("admin/", admin.site.urls),
    path("login", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout", auth_views.LogoutView.as_view(), name="logout"),
    path("dashboard", views.dashboard, name="dashboard"),
    path("settings", views.settings_page, name="settings"),
    path("", include("providers.urls")),
    path("", include("benchmarks.urls")),
    path("", include("alerts.urls")),
    path("", include("monitoring.page_urls")),
    path("", include("monitoring.urls")),
]

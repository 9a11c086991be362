"""The one API router: every app registers its viewsets here (paths without trailing slash)."""

from rest_framework.routers import SimpleRouter

router = SimpleRouter(trailing_slash=False)

urlpatterns = [*router.urls]

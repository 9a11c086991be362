"""ArgusLM settings: every knob comes from the environment (see README "Configuration").

With nothing configured, ArgusLM runs embedded: SQLite in WAL mode in the data directory,
django-q2 on its ORM broker and an in-process channel layer. ``DATABASE_URL`` switches to
PostgreSQL; ``REDIS_URL`` switches the channel layer and the django-q2 broker to Redis.
"""

import logging
import os
from pathlib import Path

from arguslm.envconf import env_bool, env_int, env_str, persistent_secret

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("ARGUSLM_DATA_DIR", str(BASE_DIR / "data"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)

log = logging.getLogger("arguslm")

# --- Core -----------------------------------------------------------------------------------

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = persistent_secret("SECRET_KEY", DATA_DIR / "secret_key", kind="django")
ALLOWED_HOSTS = env_str("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1],testserver").split(",")
CSRF_TRUSTED_ORIGINS = [o for o in env_str("CSRF_TRUSTED_ORIGINS", "").split(",") if o]
SITE_ROOT = env_str("SITE_ROOT", "http://127.0.0.1:8000")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "django_q",
    "channels",
    "encrypted_model_fields",
    "arguslm",
    "providers",
    "monitoring",
    "benchmarks",
    "alerts",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Static files straight from the app and node_modules (no collectstatic step needed).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "arguslm.urls"
ASGI_APPLICATION = "arguslm.asgi.application"
WSGI_APPLICATION = None
APPEND_SLASH = False  # API paths have no trailing slash and never redirect (SDK wire format)

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "arguslm.context.nav",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------

DATABASE_URL = env_str("DATABASE_URL", "")
if DATABASE_URL:
    import dj_database_url

    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "arguslm.sqlite3",
            "OPTIONS": {
                # WAL lets the web server read while the worker writes; IMMEDIATE avoids
                # "database is locked" on read-to-write upgrades between the two processes.
                "init_command": (
                    "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;"
                ),
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
            # Tests use a file, not shared-cache memory: worker threads (the benchmark engine,
            # monitoring heartbeats) then wait on locks instead of failing with "table locked".
            "TEST": {"NAME": str(DATA_DIR / f"test-{os.getpid()}.sqlite3")},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis, channel layer, background worker ------------------------------------------------

REDIS_URL = env_str("REDIS_URL", "")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": "arguslm"},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

Q_CLUSTER = {
    "name": "arguslm",
    "workers": env_int("ARGUSLM_WORKERS", 2),
    "timeout": 3600,  # a benchmark may run long; probes have their own per-request timeouts
    "retry": 3700,
    "max_attempts": 1,
    "catch_up": False,  # missed schedule ticks are skipped, never replayed in a burst
    "ack_failures": True,
    "save_limit": 500,
    "poll": 0.5,
    "label": "Background tasks",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

# --- Authentication and the API -------------------------------------------------------------

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

API_AUTH = env_bool("ARGUSLM_API_AUTH", True)
if not API_AUTH:
    log.warning(
        "ARGUSLM_API_AUTH=false: the API accepts anonymous requests. Trusted networks only."
    )

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # The first class decides the WWW-Authenticate header, so unauthenticated calls get 401.
        "arguslm.auth.BearerTokenAuthentication",
        "arguslm.auth.BasicTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated"
        if API_AUTH
        else "rest_framework.permissions.AllowAny"
    ],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "arguslm.api.exception_handler",
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "arguslm.negotiation.FirstRendererNegotiation",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "ArgusLM API",
    "DESCRIPTION": "Monitor and benchmark LLM endpoints.",
    "VERSION": "0.4.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "MonitoringRunStatusEnum": "monitoring.models.MonitoringRun.Status",
        "UptimeCheckStatusEnum": "monitoring.models.UptimeCheck.Status",
        "BenchmarkRunStatusEnum": "benchmarks.models.BenchmarkRun.Status",
    },
}

# --- Credentials encryption -----------------------------------------------------------------

# A comma-separated list: the first key encrypts, every key decrypts (key rotation).
FIELD_ENCRYPTION_KEY = persistent_secret(
    "ARGUSLM_ENCRYPTION_KEY", DATA_DIR / "encryption_key", kind="fernet"
)

# --- LLM gateway and simulator --------------------------------------------------------------

# litellm must never fetch its price map from the network at import (offline machines stall).
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("LITELLM_LOG", "ERROR")

LLMSIM_URL = env_str("ARGUSLM_LLMSIM_URL", "http://127.0.0.1:8100")
DEMO = env_bool("ARGUSLM_DEMO", True)

# --- Static files, i18n, logging ------------------------------------------------------------

STATIC_URL = "static/"
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
STATIC_ROOT = DATA_DIR / "static"  # collectstatic target; WhiteNoise also serves from finders
STATIC_ROOT.mkdir(exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
if (BASE_DIR / "node_modules").is_dir():
    STATICFILES_DIRS.append(("vendor", BASE_DIR / "node_modules"))

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        # litellm's debug output carries request bodies and keys: keep it quiet.
        "LiteLLM": {"level": "ERROR"},
        "httpx": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
    },
}

# --- Email (alert notifications) ------------------------------------------------------------

EMAIL_HOST = env_str("EMAIL_HOST", "")
EMAIL_PORT = env_int("EMAIL_PORT", 587)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "arguslm@localhost")
EMAIL_BACKEND = (
    "django.core.mail.backends.smtp.EmailBackend"
    if EMAIL_HOST
    else "django.core.mail.backends.console.EmailBackend"
)

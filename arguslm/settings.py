"""ArgusLM settings: every knob comes from the environment (see README "Configuration").

With nothing configured, ArgusLM runs embedded: SQLite in WAL mode in the data directory,
django-q2 on its ORM broker and an in-process channel layer. ``DATABASE_URL`` switches to
PostgreSQL; ``REDIS_URL`` switches the channel layer and the django-q2 broker to Redis.
"""

import hashlib
import hmac
import logging
import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from arguslm import region_names
from arguslm.envconf import env_bool, env_int, env_str, persistent_secret
from arguslm.llm.egress import parse_rules

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
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    # Before django_q: its `qcluster` command is arguslm's, which checks the encryption key.
    "arguslm",
    "django_q",
    "channels",
    "encrypted_model_fields",
    "providers",
    "monitoring",
    "benchmarks",
    "alerts",
    "dashboard",
]
# The performance harness (perf/: bench commands, history generator) is a development tool:
# a checkout has it, a deployment may leave the folder out.
if (BASE_DIR / "perf").is_dir():
    INSTALLED_APPS.append("perf")

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "arguslm.security.ContentSecurityPolicyMiddleware",
    # Static files straight from the app and node_modules (no collectstatic step needed).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "arguslm.audit.AuditMiddleware",
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
# Every SQLite database, the embedded default or one named by DATABASE_URL: WAL lets the web
# server read while the worker writes; IMMEDIATE avoids "database is locked" on read-to-write
# upgrades between the two processes; a writer waits up to 20 s for the lock.
SQLITE_OPTIONS = {
    "init_command": (
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;"
    ),
    "transaction_mode": "IMMEDIATE",
    "timeout": 20,
}
if DATABASE_URL:
    import dj_database_url

    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
else:
    DATABASES = {
        "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": DATA_DIR / "arguslm.sqlite3"}
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {**SQLITE_OPTIONS, **DATABASES["default"].get("OPTIONS", {})}
    # Tests use a file, not shared-cache memory: worker threads (the benchmark engine,
    # monitoring heartbeats) then wait on locks instead of failing with "table locked".
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / f"test-{os.getpid()}.sqlite3")}
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


# --- Regions (docs/regions.md) ----------------------------------------------------------------
# Where this process probes from. The home region's workers take every task (schedules,
# benchmarks, alerts, passes) and their own region's probes; a worker of another region takes
# only its region's probes, from a queue of its own.
def _region(name: str, default: str) -> str:
    value = env_str(name, default).strip()
    if not region_names.is_name(value):
        raise ImproperlyConfigured(f"{name}={value[:40]!r}: a region is {region_names.RULE}")
    return value


ARGUSLM_HOME_REGION = _region("ARGUSLM_HOME_REGION", "default")
ARGUSLM_REGION = _region("ARGUSLM_REGION", ARGUSLM_HOME_REGION)
ARGUSLM_HOME_QUEUE = Q_CLUSTER["name"]
# Called by every worker cluster every few seconds (manage.py qcluster): its region's heartbeat.
ARGUSLM_CLUSTER_BEAT = "monitoring.regions.cluster_beat"
if ARGUSLM_REGION != ARGUSLM_HOME_REGION:
    Q_CLUSTER["cluster_name"] = f"{ARGUSLM_HOME_QUEUE}.{ARGUSLM_REGION}"

# --- Limits and cost ------------------------------------------------------------------------


def _cache_url(redis_url: str) -> str:
    """The cache's Redis URL: the broker's server, the next database index.

    A separate database, not just a key prefix: ``cache.clear()`` runs FLUSHDB, which on the
    broker's database would drop queued tasks and channel-layer messages. ARGUSLM_CACHE_URL
    overrides it (e.g. when the broker already uses database 15, the last by default).
    """
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(redis_url)
    db = parts.path.strip("/")
    if parts.scheme not in ("redis", "rediss") or not (db == "" or db.isdigit()):
        return redis_url  # a unix socket or an unusual URL: share it (keys are prefixed)
    return urlunsplit(parts._replace(path=f"/{int(db or 0) + 1}"))


# DRF's throttles keep their request history in the default cache. With Redis it is shared by
# every web process; the embedded default is per process memory, so there each web process
# enforces the limits on its own (N processes allow up to N times the rate).
CACHE_URL = env_str("ARGUSLM_CACHE_URL", _cache_url(REDIS_URL) if REDIS_URL else "")
if CACHE_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": CACHE_URL,
            "KEY_PREFIX": "arguslm-cache",
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "arguslm",
        }
    }


def _env_rate(scope: str, default: str) -> str:
    """A DRF rate ("30/min") from ARGUSLM_THROTTLE_<SCOPE>, checked at startup rather than
    failing on the first request of that scope (DRF reads only the period's first letter)."""
    from django.core.exceptions import ImproperlyConfigured

    name = f"ARGUSLM_THROTTLE_{scope.upper()}"
    value = env_str(name, default).strip()
    count, _, period = value.partition("/")
    if not count.isdigit() or int(count) < 1 or period[:1] not in ("s", "m", "h", "d"):
        raise ImproperlyConfigured(f'{name} must look like "30/min" (per sec, min, hour, day)')
    return value


# Per user (per client IP for anonymous calls when ARGUSLM_API_AUTH=false): the API endpoints
# that make paid provider calls or queue heavy work (arguslm.limits).
THROTTLE_RATES = {
    "monitoring_run": _env_rate("monitoring_run", "6/min"),
    "benchmark_start": _env_rate("benchmark_start", "10/min"),
    "connection_test": _env_rate("connection_test", "20/min"),
    "model_refresh": _env_rate("model_refresh", "10/min"),
    # A rule test sends to the rule's channels (email, webhooks): few, so it relays nothing.
    "rule_test": _env_rate("rule_test", "5/hour"),
}
# Pending + running benchmark runs at once; starting one more answers 429 (0 = no cap).
MAX_ACTIVE_BENCHMARKS = env_int("ARGUSLM_MAX_ACTIVE_BENCHMARKS", 3)
# Largest request body read into memory (the API's JSON bodies; forms); larger API bodies → 413.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("ARGUSLM_MAX_BODY_BYTES", 1024 * 1024)

# --- Authentication and the API -------------------------------------------------------------

# Django's four standard checks wherever a password is chosen: `manage.py createsuperuser` and
# `changepassword`, the admin's password forms, and bootstrap's ARGUSLM_ADMIN_PASSWORD.
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

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
        # Session or anonymous (open API): CSRF-checked, token requests are not.
        "arguslm.auth.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated"
        if API_AUTH
        else "rest_framework.permissions.AllowAny",
        "arguslm.auth.TokenScope",
        "arguslm.auth.ActionPermission",
    ],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "arguslm.api.exception_handler",
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "arguslm.negotiation.FirstRendererNegotiation",
    "DEFAULT_SCHEMA_CLASS": "arguslm.schema.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # Applied per action by arguslm.limits.ThrottledActionsMixin (no default throttle classes).
    "DEFAULT_THROTTLE_RATES": THROTTLE_RATES,
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

# --- Metrics --------------------------------------------------------------------------------

# /metrics (Prometheus) needs an API token unless this is true: for a scraper on a trusted
# network that cannot send credentials. It exposes model ids and account names.
METRICS_PUBLIC = env_bool("ARGUSLM_METRICS_PUBLIC", False)

# --- Security -------------------------------------------------------------------------------

# Behind a TLS-terminating proxy set ARGUSLM_HTTPS=true: secure cookies, HSTS, and the
# proxy's X-Forwarded-Proto is trusted (so the proxy must set it, and overwrite a client's).
HTTPS = env_bool("ARGUSLM_HTTPS", False)
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = 31536000 if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = False  # other hosts under the domain are not ours to pin
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if HTTPS else None
# Proxies usually redirect http → https themselves; a second redirect here is opt-in.
SECURE_SSL_REDIRECT = env_bool("ARGUSLM_SSL_REDIRECT", False)
if SECURE_SSL_REDIRECT and not HTTPS:
    # Without the proxy header trusted, every proxied request looks like http: a redirect loop.
    raise ImproperlyConfigured("ARGUSLM_SSL_REDIRECT=true needs ARGUSLM_HTTPS=true")
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"

# Django's SecurityMiddleware and XFrameOptionsMiddleware send these (defaults, made explicit);
# arguslm.security.ContentSecurityPolicyMiddleware sends the Content-Security-Policy.
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Login rate limit (arguslm.security): after this many failures of one user name from one
# client IP, or of any user names from one client IP, within the window, the login answers
# 429 to that user name from that address (to that address) until the window has passed.
LOGIN_FAILURE_LIMIT = env_int("ARGUSLM_LOGIN_FAILURE_LIMIT", 5)
LOGIN_IP_FAILURE_LIMIT = env_int("ARGUSLM_LOGIN_IP_FAILURE_LIMIT", 50)
LOGIN_FAILURE_WINDOW = env_int("ARGUSLM_LOGIN_FAILURE_WINDOW_SECONDS", 15 * 60)
# Reverse proxies in front of ArgusLM: the client IP is then read from X-Forwarded-For (the
# entry the outermost trusted proxy added). 0 = use the socket's peer address.
NUM_PROXIES = env_int("ARGUSLM_NUM_PROXIES", 0)

# Swagger UI would send the schema URL to validator.swagger.io for a badge (and the CSP
# blocks the image anyway).
SPECTACULAR_SETTINGS["SWAGGER_UI_SETTINGS"] = {"deepLinking": True, "validatorUrl": None}

# --- Credentials encryption -----------------------------------------------------------------

# A comma-separated list: the first key encrypts, every key decrypts (key rotation; then
# `manage.py rotate_encryption_key` re-encrypts with the first so old keys can be dropped).
# encrypted_model_fields builds a MultiFernet when given a list.
_ENCRYPTION_KEYS = [
    key.strip()
    for key in persistent_secret(
        "ARGUSLM_ENCRYPTION_KEY", DATA_DIR / "encryption_key", kind="fernet"
    ).split(",")
    if key.strip()
]
if not _ENCRYPTION_KEYS:
    raise ImproperlyConfigured("ARGUSLM_ENCRYPTION_KEY holds no key")
FIELD_ENCRYPTION_KEY = _ENCRYPTION_KEYS if len(_ENCRYPTION_KEYS) > 1 else _ENCRYPTION_KEYS[0]
# django-q2 signs every queued task; its key comes from the encryption key rather than
# SECRET_KEY, so that a worker on another machine (a probe region) needs only the database and
# Redis URLs and the encryption key (arguslm.apps sets it).
TASK_SIGNING_KEY = hmac.new(
    _ENCRYPTION_KEYS[0].encode(), b"arguslm django-q2 task signing", hashlib.sha256
).hexdigest()

# --- LLM gateway and simulator --------------------------------------------------------------

# litellm must never fetch its price map from the network at import (offline machines stall).
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("LITELLM_LOG", "ERROR")

LLMSIM_URL = env_str("ARGUSLM_LLMSIM_URL", "http://127.0.0.1:8100")
# Probe starts per minute per worker process: the gateway keeps its accuracy at or below
# 2,000/min on one core; more load is spread over more worker processes.
ARGUSLM_PROBE_RATE = env_int("ARGUSLM_PROBE_RATE", 2000)
DEMO = env_bool("ARGUSLM_DEMO", True)

# The network policy of probes, discovery and webhooks (docs/network-policy.md): private and
# loopback addresses for every destination, not only local provider types; and lists of
# addresses, CIDR networks or host names (with their subdomains) to allow or to refuse.
ARGUSLM_ALLOW_PRIVATE_NETWORKS = env_bool("ARGUSLM_ALLOW_PRIVATE_NETWORKS", False)
ARGUSLM_EGRESS_ALLOW = [e for e in env_str("ARGUSLM_EGRESS_ALLOW", "").split(",") if e.strip()]
ARGUSLM_EGRESS_DENY = [e for e in env_str("ARGUSLM_EGRESS_DENY", "").split(",") if e.strip()]
for _name, _entries in (
    ("ARGUSLM_EGRESS_ALLOW", ARGUSLM_EGRESS_ALLOW),
    ("ARGUSLM_EGRESS_DENY", ARGUSLM_EGRESS_DENY),
):
    try:
        parse_rules(tuple(_entries))
    except ValueError as exc:
        raise ImproperlyConfigured(f"{_name}: {exc}") from None

# --- Static files, i18n, logging ------------------------------------------------------------

STATIC_URL = "static/"
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
STATIC_ROOT = DATA_DIR / "static"  # collectstatic target; WhiteNoise also serves from finders
STATIC_ROOT.mkdir(exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
# Of node_modules/ (filled by `npm install` from package.json), only the files the pages load
# are static files, as static/vendor/<path>; `manage.py check` fails when one is missing.
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    "arguslm.staticfiles.VendorFinder",
]
ARGUSLM_VENDOR_DIR = BASE_DIR / "node_modules"
ARGUSLM_VENDOR_FILES = ["chart.js/dist/chart.umd.js"]

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
        # Apprise's requests: urllib3 logs each request's path (a token, for many services).
        "urllib3": {"level": "WARNING"},
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

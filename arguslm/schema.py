"""OpenAPI descriptions of the project's authentication classes (drf-spectacular)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "arguslm.auth.BearerTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token (Settings page or `manage.py drf_create_token`). "
            "`Authorization: Token <key>` is accepted too.",
        }


class BasicTokenScheme(OpenApiAuthenticationExtension):
    target_class = "arguslm.auth.BasicTokenAuthentication"
    name = "basicTokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "basic",
            "description": "HTTP Basic with any user name and an API token as the password "
            "(what the arguslm SDK sends for http://token:<key>@host).",
        }

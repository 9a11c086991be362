"""System state shared by every app: the encryption canary and process heartbeats."""

from django.db import models
from encrypted_model_fields.fields import EncryptedCharField


class EncryptionCanary(models.Model):
    """A known value encrypted with the credential key, to detect a wrong key at start."""

    value = EncryptedCharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Encryption canary {self.pk}"


class Heartbeat(models.Model):
    """The last time a background process showed it was alive (``/ready`` reads it)."""

    name = models.CharField(max_length=100, primary_key=True)
    seen_at = models.DateTimeField()
    info = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return f"{self.name} at {self.seen_at:%Y-%m-%d %H:%M:%S}"

"""Checks that the credential encryption key is the one the stored secrets were written with.

django-encrypted-model-fields returns the ciphertext unchanged when decryption fails, so a
wrong key would silently hand garbage to providers. A known canary value is stored once;
every start decrypts it and refuses to run if it does not read back.
"""

from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError

CANARY = "arguslm-encryption-canary-v1"


def verify_encryption_key() -> None:
    """Raise ImproperlyConfigured if the stored canary does not decrypt to CANARY."""
    from arguslm.models import EncryptionCanary

    try:
        canary = EncryptionCanary.objects.order_by("pk").first()
    except DatabaseError:
        return  # not migrated yet: migrate creates the canary
    if canary is None:
        EncryptionCanary.objects.create(value=CANARY)
        return
    if canary.value != CANARY:
        raise ImproperlyConfigured(
            "ARGUSLM_ENCRYPTION_KEY does not decrypt the stored credentials (the encryption "
            "canary reads back as ciphertext). Start with the key this database was written "
            "with, or with a comma-separated list that contains it: to change keys, set "
            "ARGUSLM_ENCRYPTION_KEY=<new key>,<old key>, run `manage.py rotate_encryption_key` "
            "(it re-encrypts everything with the first key), check with "
            "`manage.py rotate_encryption_key --check`, then drop the old key."
        )


def ensure_encryption_canary(**kwargs) -> None:
    """post_migrate receiver: create or verify the canary."""
    verify_encryption_key()

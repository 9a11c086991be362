"""``manage.py rotate_encryption_key``: re-encrypt every stored secret with the first key.

Rotation: set ``ARGUSLM_ENCRYPTION_KEY=<new>,<old>`` (the first key encrypts, all decrypt),
restart, run this command, then drop ``<old>``. ``--check`` tells whether that is safe yet.
"""

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, models, transaction
from django.db.models.functions import Cast
from encrypted_model_fields.fields import EncryptedMixin

from arguslm import audit


def encrypted_columns() -> list[tuple[type[models.Model], models.Field]]:
    """Every encrypted field of every model (provider credentials, the key canary, …)."""
    return [
        (model, f)
        for model in apps.get_models()
        for f in model._meta.concrete_fields
        if isinstance(f, EncryptedMixin)
    ]


def configured_keys() -> list[str]:
    keys = settings.FIELD_ENCRYPTION_KEY
    return list(keys) if isinstance(keys, list | tuple) else [keys]


def _replace_ciphertext(model, field, pk, old: str, new: str) -> int:
    """Store ciphertext ``new`` in place of ``old``; 0 if the value changed meanwhile.

    Raw SQL: the ORM would pass any value, expressions included, through the field's own
    encryption, and a lookup on the field compares against the decrypted value.
    """
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {quote(model._meta.db_table)} SET {quote(field.column)} = %s "
            f"WHERE {quote(model._meta.pk.column)} = %s AND {quote(field.column)} = %s",
            [new, model._meta.pk.get_db_prep_value(pk, connection), old],
        )
        return cursor.rowcount


class Command(BaseCommand):
    help = (
        "Re-encrypt every encrypted value with the first key of ARGUSLM_ENCRYPTION_KEY, so the "
        "older keys after it can be removed. With --check, only report how many values still "
        "need an older key (exit status 1 if any)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--check", action="store_true", help="Report only; change nothing.")

    def handle(self, *args, check: bool, **options) -> None:
        keys = configured_keys()
        first, every = Fernet(keys[0]), MultiFernet([Fernet(k) for k in keys])
        total = current = 0
        stale: list[tuple[type[models.Model], models.Field, object, str, str]] = []
        unreadable: list[str] = []
        with transaction.atomic():
            for model, field in encrypted_columns():
                # Cast to a plain text column: reading the field itself would decrypt it.
                rows = (
                    model._base_manager.annotate(_raw=Cast(field.attname, models.TextField()))
                    .exclude(_raw=None)
                    .values_list("pk", "_raw")
                )
                for pk, raw in rows:
                    total += 1
                    token = raw.encode()
                    try:
                        first.decrypt(token)
                        current += 1
                        continue
                    except InvalidToken:
                        pass
                    try:
                        stale.append((model, field, pk, raw, every.rotate(token).decode()))
                    except InvalidToken:
                        unreadable.append(f"{model._meta.label}.{field.name} pk={pk}")
            if unreadable:
                raise CommandError(
                    f"{len(unreadable)} value(s) decrypt with none of the configured keys "
                    f"({', '.join(unreadable[:5])}): add the key they were written with to "
                    "ARGUSLM_ENCRYPTION_KEY. Nothing was changed."
                )
            if check:
                self.stdout.write(
                    f"{total} encrypted value(s): {current} use the first key, "
                    f"{len(stale)} still need an older key."
                )
                if stale:
                    raise CommandError(
                        f"{len(stale)} value(s) still need an older key: "
                        "run `manage.py rotate_encryption_key` before removing it."
                    )
                self.stdout.write("Only the first key is needed: the others can be removed.")
                return
            rotated = skipped = 0
            for model, field, pk, raw, new in stale:
                changed = _replace_ciphertext(model, field, pk, raw, new)
                rotated += changed
                skipped += 1 - changed
            if rotated:
                audit.record(
                    "key_rotated",
                    object_type="arguslm.encryptionkey",
                    object_label="credential encryption key",
                    changes={"re_encrypted": rotated, "already_current": current},
                )
        self.stdout.write(
            f"Re-encrypted {rotated} of {total} encrypted value(s) with the first key "
            f"({current} already used it"
            + (f", {skipped} changed meanwhile: run it again" if skipped else "")
            + "). Once every process runs with the new key first, `--check` confirms that the "
            "older keys can be removed from ARGUSLM_ENCRYPTION_KEY."
        )

# Webhook URLs (Slack and Discord URLs are bearer credentials), signing secrets and notification
# targets are encrypted at rest. The columns keep their values; the data step below encrypts
# the stored plain text (and decrypts it again when migrating backwards).

import cryptography.fernet
import encrypted_model_fields.fields
from django.db import migrations
from encrypted_model_fields.fields import decrypt_str, encrypt_str

import alerts.models

COLUMNS = [("alerts_alertrule", "webhook_url"), ("alerts_alertrule", "webhook_secret"),
           ("alerts_notification", "target")]


def _is_encrypted(value: str) -> bool:
    try:
        decrypt_str(value)
    except cryptography.fernet.InvalidToken:
        return False
    return True


def _rewrite(schema_editor, convert) -> None:
    connection = schema_editor.connection
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for table, column in COLUMNS:
            cursor.execute(f"SELECT id, {quote(column)} FROM {quote(table)}")
            for pk, value in cursor.fetchall():
                new = None if value in (None, "") else convert(value)
                if new is not None and new != value:
                    cursor.execute(
                        f"UPDATE {quote(table)} SET {quote(column)} = %s WHERE id = %s",
                        [new, pk],
                    )


def encrypt(apps, schema_editor) -> None:
    _rewrite(schema_editor, lambda v: v if _is_encrypted(v) else encrypt_str(v).decode())


def decrypt(apps, schema_editor) -> None:
    _rewrite(schema_editor, lambda v: decrypt_str(v) if _is_encrypted(v) else v)


class Migration(migrations.Migration):

    dependencies = [
        ('alerts', '0001_initial'),
    ]

    operations = [
        migrations.AlterField(
            model_name='alertrule',
            name='webhook_secret',
            field=encrypted_model_fields.fields.EncryptedCharField(default=alerts.models.new_webhook_secret),
        ),
        migrations.AlterField(
            model_name='alertrule',
            name='webhook_url',
            field=encrypted_model_fields.fields.EncryptedTextField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name='notification',
            name='target',
            field=encrypted_model_fields.fields.EncryptedTextField(),
        ),
        migrations.RunPython(encrypt, decrypt),
    ]

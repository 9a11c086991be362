"""The rollups' unique index ends with the region, so that a model's buckets of a resolution in
a time range are one range of it again (dashboard.queries.rollup_rows): with the region second,
SQLite read every model's rows of the range for each model asked for."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0012_regions"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="checkrollup",
            name="one_rollup_per_region_bucket",
        ),
        migrations.AddConstraint(
            model_name="checkrollup",
            constraint=models.UniqueConstraint(
                fields=("model", "resolution", "bucket", "region"),
                name="one_rollup_per_region_bucket",
            ),
        ),
    ]

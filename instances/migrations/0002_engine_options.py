from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("instances", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="instance",
            name="allow_md5",
            field=models.BooleanField(
                default=False,
                help_text="PostgreSQL: also answer MD5 password requests (old servers only). "
                "The portal never sends a password in clear text.",
            ),
        ),
    ]

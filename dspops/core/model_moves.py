"""Migration helpers for a model that moves between apps (floors) and keeps its table."""

from django.db import migrations


def move_content_types(old_app: str, new_app: str, models: tuple[str, ...]) -> migrations.RunPython:
    """A migration operation that relabels the content types of models moved from `old_app` to `new_app`.

    Their permissions (and so the groups holding them) and their admin log entries follow the move;
    reversible. Used by the state-only migrations that move a model between floors.
    """

    def forwards(apps, schema_editor):
        content_type = apps.get_model("contenttypes", "ContentType")
        for model in models:
            if not content_type.objects.filter(app_label=new_app, model=model).exists():
                content_type.objects.filter(app_label=old_app, model=model).update(app_label=new_app)

    def backwards(apps, schema_editor):
        content_type = apps.get_model("contenttypes", "ContentType")
        for model in models:
            if not content_type.objects.filter(app_label=old_app, model=model).exists():
                content_type.objects.filter(app_label=new_app, model=model).update(app_label=old_app)

    return migrations.RunPython(forwards, backwards)

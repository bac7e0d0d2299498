"""The one task registry (dspops/tasks.py): the schedules and the dashboard buttons both come from it."""

import ast
import pydoc
import re
from pathlib import Path

from django.conf import settings
from django.urls import reverse

from dspops import tasks
from dspops.schedules import SCHEDULES

ROOT = Path(settings.BASE_DIR)


def test_every_schedule_is_a_registered_task_and_every_task_is_scheduled_once():
    by_func = {task.func: task for task in tasks.REGISTRY.values()}
    assert sorted(func for _, func, _ in SCHEDULES) == sorted(by_func)
    for name, func, cron in SCHEDULES:
        task = by_func[func]
        assert (name, cron) == (task.schedule_name, task.cron)
        # What django-q2 calls is the registry's guarded entry point.
        assert pydoc.locate(func) is getattr(tasks, task.entry)


def test_every_dashboard_button_posts_a_registered_task(operator_client, booted):
    page = operator_client.get(reverse("admin:index")).content.decode()
    prefix = reverse("admin:dashboard_run_task", args=["NAME"]).replace("NAME/", "")
    posted = re.findall(rf'action="{re.escape(prefix)}([^/"]+)/"', page)
    assert posted == [name for name, _ in tasks.buttons()] == list(tasks.BUTTONS)
    assert set(posted) <= set(tasks.REGISTRY)
    for name, label in tasks.buttons():
        assert label in page and tasks.REGISTRY[name].button == label


def test_a_registered_task_without_a_button_cannot_be_queued_from_the_dashboard(operator_client, booted):
    assert "roll_check" in tasks.REGISTRY and "roll_check" not in tasks.BUTTONS
    assert operator_client.post(reverse("admin:dashboard_run_task", args=["roll_check"])).status_code == 404


def test_the_roll_check_is_guarded_by_cfe_and_the_others_by_the_nyse():
    exchanges = {task.name: task.exchange for task in tasks.REGISTRY.values()}
    assert exchanges.pop("roll_check") == "XCBF" and set(exchanges.values()) == {"XNYS"}


def test_no_tasks_module_imports_another_apps_tasks_module():
    for app in ("sleeves", "rolls", "digests"):
        tree = ast.parse((ROOT / app / "tasks.py").read_text())
        imported = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
            elif isinstance(node, ast.Import):
                imported |= {alias.name for alias in node.names}
        assert not {m for m in imported if m.endswith(".tasks") and not m.startswith(app)}, app

"""Shared fixtures: a bootstrapped database and the two kinds of user."""

from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

SHARED_DIR = Path(settings.BASE_DIR).parent / "shared"


@pytest.fixture
def shared_dir() -> Path:
    """The operator's real legacy and market files, beside the repository (never copied into it)."""
    if not SHARED_DIR.is_dir():
        pytest.skip(f"{SHARED_DIR} is not present: the real legacy and market files are not available here")
    return SHARED_DIR


@pytest.fixture
def booted(db):
    """A database after `bootstrap`: sleeves, settings, instruments, roll calendar and groups."""
    from dspops.bootstrap import bootstrap

    return bootstrap(create_operator=False)


def _user(username: str, group: str):
    user = get_user_model().objects.create_user(username=username, password="pw-for-tests", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def operator_user(booted):
    return _user("olivia", "Operator")


@pytest.fixture
def viewer_user(booted):
    return _user("victor", "Viewer")


@pytest.fixture
def operator_client(client, operator_user):
    client.force_login(operator_user)
    return client


@pytest.fixture
def viewer_client(client, viewer_user):
    client.force_login(viewer_user)
    return client

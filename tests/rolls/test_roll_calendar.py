"""The roll calendar: the command's output, the stored RollCycle rows, and hand-entered plans."""

import io
import json
import subprocess
import sys
from datetime import date

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from rolls.models import RollCycle
from rolls.roll_calendar import generate_roll_calendar
from sleeves.models import SleeveParameter

EXPECTED_2026_2027 = """contract_month,settlement_date,roll_by,close,open_short,open_long
2026-01,2026-01-21,2026-01-13,VXMF6,VXMG6,VXMH6
2026-02,2026-02-18,2026-02-10,VXMG6,VXMH6,VXMJ6
2026-03,2026-03-18,2026-03-11,VXMH6,VXMJ6,VXMK6
2026-04,2026-04-15,2026-04-08,VXMJ6,VXMK6,VXMM6
2026-05,2026-05-19,2026-05-12,VXMK6,VXMM6,VXMN6
2026-06,2026-06-17,2026-06-10,VXMM6,VXMN6,VXMQ6
2026-07,2026-07-22,2026-07-15,VXMN6,VXMQ6,VXMU6
2026-08,2026-08-19,2026-08-12,VXMQ6,VXMU6,VXMV6
2026-09,2026-09-16,2026-09-09,VXMU6,VXMV6,VXMX6
2026-10,2026-10-21,2026-10-14,VXMV6,VXMX6,VXMZ6
2026-11,2026-11-18,2026-11-11,VXMX6,VXMZ6,VXMF7
2026-12,2026-12-16,2026-12-09,VXMZ6,VXMF7,VXMG7
2027-01,2027-01-20,2027-01-12,VXMF7,VXMG7,VXMH7
2027-02,2027-02-17,2027-02-09,VXMG7,VXMH7,VXMJ7
2027-03,2027-03-17,2027-03-10,VXMH7,VXMJ7,VXMK7
2027-04,2027-04-21,2027-04-14,VXMJ7,VXMK7,VXMM7
2027-05,2027-05-18,2027-05-11,VXMK7,VXMM7,VXMN7
2027-06,2027-06-16,2027-06-09,VXMM7,VXMN7,VXMQ7
2027-07,2027-07-21,2027-07-14,VXMN7,VXMQ7,VXMU7
2027-08,2027-08-18,2027-08-11,VXMQ7,VXMU7,VXMV7
2027-09,2027-09-15,2027-09-08,VXMU7,VXMV7,VXMX7
2027-10,2027-10-20,2027-10-13,VXMV7,VXMX7,VXMZ7
2027-11,2027-11-17,2027-11-10,VXMX7,VXMZ7,VXMF8
2027-12,2027-12-22,2027-12-15,VXMZ7,VXMF8,VXMG8
"""


def run(*args) -> str:
    out = io.StringIO()
    call_command("roll_calendar", *args, stdout=out)
    return out.getvalue()


def test_csv_for_2026_and_2027_is_exactly_the_published_calendar(booted):
    assert run("--from-year", "2026", "--to-year", "2027", "--format", "csv") == EXPECTED_2026_2027


def test_roll_by_follows_the_sleeve_setting(booted):
    SleeveParameter.objects.filter(sleeve__code="VRP_CS", key="roll_sessions_before").update(value="3")
    data = json.loads(run("--from-year", "2026", "--to-year", "2026", "--format", "json"))
    assert data["sessions_before"] == 3
    assert data["contracts"][0]["roll_by"] == "2026-01-15"  # 3 CFE sessions before 2026-01-21


@pytest.mark.parametrize(
    "args, message",
    [
        (["--from-year", "2027", "--to-year", "2026"], "is after --to-year"),
        (["--from-year", "1999", "--to-year", "2000"], "outside the supported range"),
        (["--from-year", "2026", "--to-year", "2026", "--sessions-before", "0"], "between 1 and 20"),
    ],
)
def test_a_bad_argument_is_a_clear_error_with_exit_code_2(booted, args, message):
    with pytest.raises(CommandError, match=message) as raised:
        run(*args)
    assert raised.value.returncode == 2


def test_a_malformed_argument_exits_2_from_the_shell():
    result = subprocess.run(
        [sys.executable, "manage.py", "roll_calendar", "--from-year", "twenty", "--to-year", "2026"],
        cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2
    assert "--from-year: invalid int value: 'twenty'" in result.stderr


def test_regenerating_keeps_a_hand_entered_plan_and_flags_it(booted):
    generate_roll_calendar(from_year=2026, to_year=2026)
    RollCycle.objects.filter(contract_month="2026-01").update(planned_roll_by=date(2026, 1, 14))
    RollCycle.objects.filter(contract_month="2026-02").update(
        planned_roll_by=date(2026, 2, 12), planned_settlement_date=date(2026, 2, 19))
    RollCycle.objects.filter(contract_month="2026-03").update(roll_by=date(2026, 3, 2))  # damaged rule field
    result = generate_roll_calendar(from_year=2026, to_year=2026)
    january, february, march = RollCycle.objects.filter(contract_month__in=["2026-01", "2026-02", "2026-03"])
    assert (january.roll_by, january.planned_roll_by) == (date(2026, 1, 13), date(2026, 1, 14))
    assert (february.roll_by, february.settlement_date) == (date(2026, 2, 10), date(2026, 2, 18))
    assert march.roll_by == date(2026, 3, 11)
    assert result.updated == 1
    assert [c.contract_month for c in result.flagged] == ["2026-01", "2026-02"]


def test_a_plan_that_matches_the_rule_is_not_flagged(booted):
    generate_roll_calendar(from_year=2026, to_year=2026)
    RollCycle.objects.filter(contract_month="2026-01").update(planned_roll_by=date(2026, 1, 13))
    assert not RollCycle.objects.get(contract_month="2026-01").plan_differs


def test_the_table_marks_a_hand_plan_that_differs(booted):
    generate_roll_calendar(from_year=2026, to_year=2026)
    RollCycle.objects.filter(contract_month="2026-01").update(planned_roll_by=date(2026, 1, 14))
    table = run("--from-year", "2026", "--to-year", "2026")
    [january] = [line for line in table.splitlines() if line.startswith("2026-01")]
    assert "hand plan 2026-01-14 differs from the rule" in january

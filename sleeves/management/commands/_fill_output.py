"""What the fill-importing commands print after their first line: per sleeve, then what needs the operator."""


def write_fill_details(stdout, report) -> None:
    """The fills created per sleeve, the unattributed ones to attribute, and the executions IBKR corrected."""
    for code, count in report.by_sleeve.items():
        stdout.write(f"  {code}: {count}")
    if report.unattributed:
        stdout.write("Set the sleeve of these fills in the admin: " + ", ".join(report.unattributed))
    if report.corrected:
        stdout.write("IBKR corrected these executions; their earlier fills were reversed: " + ", ".join(report.corrected))

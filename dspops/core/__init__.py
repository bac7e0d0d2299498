"""The kernel: instruments, quotes, broker snapshots, alerts, calendars, clock, the VX contract
calendar, formats, errors, the tabular reader and the broker gateway. It imports no other app."""

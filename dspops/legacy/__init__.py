"""The legacy DSP-100K import: ``parsers`` (files to frozen records, pure) and ``writers`` (records to rows)."""

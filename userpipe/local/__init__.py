"""The pipeline on an AWS emulator: the same handlers and wiring as infra, run in-process."""

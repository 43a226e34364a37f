"""The pipeline on an AWS emulator: the same handlers and wiring as infra, the emulator in this
process and each function in a sandbox process of its own (``sandbox``)."""

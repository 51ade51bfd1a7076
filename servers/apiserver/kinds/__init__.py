"""Per-kind behaviour of the core/v1 kinds: defaulting, validation, update rules, printing."""

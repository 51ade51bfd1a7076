"""The controllers of km controller-manager, one module each (imported only when enabled)."""

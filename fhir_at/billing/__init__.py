"""Billing rules for 97755: units, modifiers, NCCI, documentation."""

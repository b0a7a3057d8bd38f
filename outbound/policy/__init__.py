"""Pure policy rules: consent, quiet hours, caps and channel preference -> a Decision."""

from outbound.policy.engine import decide
from outbound.policy.loader import load_rules, load_rules_file

__all__ = ["decide", "load_rules", "load_rules_file"]

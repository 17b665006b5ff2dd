"""The one error of governance actions."""


class PromotionError(Exception):
    """A refused action: one line naming what and why (the gate, the role, the person)."""

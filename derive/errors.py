"""Errors a user can cause. Each carries enough context for one clear CLI line."""


class SpecError(ValueError):
    """A model spec is malformed: names the file (if any), the field and the problem."""

    def __init__(self, message, field=None, source=None):
        self.message = message
        self.field = field
        self.source = source
        super().__init__(self.__str__())

    def __str__(self):
        parts = [p for p in (self.source, self.field) if p]
        return ": ".join(parts + [self.message])


class FormulaError(ValueError):
    """A user formula uses something outside the allow-list or cannot be parsed."""

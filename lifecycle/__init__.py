"""Status lifecycles: each model declares its legal moves once and changes status only through them."""

from collections.abc import Mapping

from django.core.exceptions import ValidationError


class IllegalTransition(ValidationError):
    """Raised when a status change is not one the model's lifecycle allows."""

    def __init__(self, model_name: str, current: str, target: str, allowed: frozenset[str]):
        allowed_text = ", ".join(sorted(allowed)) or "none (final state)"
        self.model_name = model_name
        self.current = current
        self.target = target
        self.allowed = frozenset(allowed)
        super().__init__(
            f"{model_name} cannot move from '{current}' to '{target}'; allowed from '{current}': {allowed_text}.",
            code="illegal_transition",
        )

    def __reduce__(self):
        # ``args`` holds ValidationError's (message, code, params), not this constructor's arguments, so
        # copy and pickle (e.g. an error crossing a process boundary) must rebuild it from the transition.
        return type(self), (self.model_name, self.current, self.target, self.allowed)


class StatusLifecycle:
    """The legal status moves of one model, e.g. ``StatusLifecycle({"pending": {"approved"}})``."""

    def __init__(self, moves: Mapping[str, set[str] | frozenset[str]]):
        self.moves = {source: frozenset(targets) for source, targets in moves.items()}

    def allowed_from(self, current: str) -> frozenset[str]:
        return self.moves.get(current, frozenset())

    def check(self, model_name: str, current: str, target: str) -> None:
        if target not in self.allowed_from(current):
            raise IllegalTransition(model_name, current, target, self.allowed_from(current))


class LifecycleModelMixin:
    """Adds ``transition_to`` to a model with a ``status`` field and a ``LIFECYCLE`` attribute.

    ``transition_to`` only validates and assigns; the caller saves (services do it inside a transaction,
    usually after ``select_for_update``), so a batch can be written in one statement.
    """

    LIFECYCLE: StatusLifecycle

    def can_transition_to(self, target: str) -> bool:
        return target in self.LIFECYCLE.allowed_from(self.status)

    def transition_to(self, target: str) -> None:
        self.LIFECYCLE.check(type(self).__name__, self.status, target)
        self.status = target

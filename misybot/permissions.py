"""Who may do what: viewers read, operators also act on stock and alerts, admins do everything."""

from __future__ import annotations

from enum import Enum

from misybot.enums import Role
from misybot.errors import MisybotError

__all__ = ["Operation", "PermissionDenied", "Role", "allowed", "require", "roles_allowed"]


class Operation(str, Enum):
    VIEW = "view"
    GENERATE_REPORT = "generate_report"
    UPDATE_STOCK = "update_stock"
    REORDER = "reorder"
    ACKNOWLEDGE_ALERT = "acknowledge_alert"
    RESOLVE_ALERT = "resolve_alert"
    SCAN_ALERTS = "scan_alerts"
    RUN_AGENT = "run_agent"
    STOP_AGENT = "stop_agent"
    IMPORT_DATA = "import_data"
    MANAGE_USERS = "manage_users"


_VIEWER = frozenset({Operation.VIEW, Operation.GENERATE_REPORT})
_OPERATOR = _VIEWER | {
    Operation.UPDATE_STOCK,
    Operation.REORDER,
    Operation.ACKNOWLEDGE_ALERT,
    Operation.RESOLVE_ALERT,
    Operation.SCAN_ALERTS,
    Operation.RUN_AGENT,
    Operation.STOP_AGENT,
}
_GRANTS: dict[Role, frozenset[Operation]] = {
    Role.VIEWER: _VIEWER,
    Role.OPERATOR: frozenset(_OPERATOR),
    Role.ADMIN: frozenset(Operation),
}


class PermissionDenied(MisybotError):
    """``role`` may not perform ``operation``; ``allowed_roles`` says who may."""

    def __init__(self, operation: Operation, role: Role):
        self.operation = operation
        self.role = role
        self.allowed_roles = roles_allowed(operation)
        who = " or ".join(r.value for r in self.allowed_roles)
        super().__init__(f"{role.value}s may not {operation.value.replace('_', ' ')} (needs {who})")


def allowed(role: Role, operation: Operation) -> bool:
    """Whether ``role`` may perform ``operation``."""
    return operation in _GRANTS[Role(role)]


def roles_allowed(operation: Operation) -> tuple[Role, ...]:
    """The roles that may perform ``operation``, least privileged first."""
    return tuple(role for role in Role if operation in _GRANTS[role])


def require(role: Role, operation: Operation) -> None:
    """Raise ``PermissionDenied`` unless ``role`` may perform ``operation``."""
    if not allowed(role, operation):
        raise PermissionDenied(operation, Role(role))

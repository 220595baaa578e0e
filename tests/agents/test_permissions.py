"""Who may do what."""

from __future__ import annotations

import pytest

from misybot.enums import Role
from misybot.permissions import Operation, PermissionDenied, allowed, require, roles_allowed

READ = {Operation.VIEW, Operation.GENERATE_REPORT}
ACT = {
    Operation.UPDATE_STOCK,
    Operation.REORDER,
    Operation.ACKNOWLEDGE_ALERT,
    Operation.RESOLVE_ALERT,
    Operation.SCAN_ALERTS,
    Operation.RUN_AGENT,
    Operation.STOP_AGENT,
}
ADMINISTER = {Operation.IMPORT_DATA, Operation.MANAGE_USERS}


@pytest.mark.parametrize("operation", list(Operation))
def test_each_role_gets_exactly_its_operations(operation):
    assert allowed(Role.VIEWER, operation) is (operation in READ)
    assert allowed(Role.OPERATOR, operation) is (operation in READ | ACT)
    assert allowed(Role.ADMIN, operation) is True
    assert set(Operation) == READ | ACT | ADMINISTER


def test_refusal_is_a_typed_error_the_chat_layer_can_render():
    with pytest.raises(PermissionDenied) as caught:
        require(Role.OPERATOR, Operation.IMPORT_DATA)
    error = caught.value
    assert (error.operation, error.role, error.allowed_roles) == (
        Operation.IMPORT_DATA,
        Role.OPERATOR,
        (Role.ADMIN,),
    )
    assert str(error) == "operators may not import data (needs admin)"
    assert roles_allowed(Operation.VIEW) == (Role.VIEWER, Role.OPERATOR, Role.ADMIN)

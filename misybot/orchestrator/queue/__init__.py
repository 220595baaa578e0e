"""The durable priority queue of agent executions, in the database (``agent_executions``,
``agent_schedules``): jobs (enqueue, claim under a lease, finish, retry, cancel), what the chat
user sees of them, the delivery of results pushed later, and recurring schedules."""

from misybot.orchestrator.queue.common import (
    ACTIVE,
    FINISHED,
    NOTIFY_CHANNEL,
    is_postgres,
    notify,
    priority_for,
)
from misybot.orchestrator.queue.delivery import (
    claim_delivery,
    delivery_done,
    delivery_failed,
    mark_answered_inline,
    request_delivery,
)
from misybot.orchestrator.queue.due import DueTimes, due_times
from misybot.orchestrator.queue.jobs import (
    CLAIM_ORDER,
    Job,
    backoff_s,
    cancel,
    claim,
    complete,
    enqueue,
    fail,
    mark_cancelled,
    renew,
    retry_later,
)
from misybot.orchestrator.queue.schedules import enqueue_due_schedules, run_context, schedule
from misybot.orchestrator.queue.views import (
    ExecutionView,
    active_executions,
    get_execution,
    view,
)

__all__ = [
    "ACTIVE",
    "CLAIM_ORDER",
    "DueTimes",
    "FINISHED",
    "NOTIFY_CHANNEL",
    "ExecutionView",
    "Job",
    "active_executions",
    "backoff_s",
    "cancel",
    "claim",
    "claim_delivery",
    "complete",
    "delivery_done",
    "delivery_failed",
    "due_times",
    "enqueue",
    "enqueue_due_schedules",
    "fail",
    "get_execution",
    "is_postgres",
    "mark_answered_inline",
    "mark_cancelled",
    "notify",
    "priority_for",
    "renew",
    "request_delivery",
    "retry_later",
    "run_context",
    "schedule",
    "view",
]

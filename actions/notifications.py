"""Subscriptions, quiet hours and what the worker pushes unasked (``EXTERNAL_notification``):
thin glue over ``misybot.notify``."""

from __future__ import annotations

import logging
from abc import abstractmethod
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.exc import SQLAlchemyError

from actions.commands import RegisteredUserAction
from actions.orchestration import render
from actions.people import db, db_write, identify, utter
from misybot.errors import MisybotError
from misybot.identity import Sender, person_conversation
from misybot.notify import outbox, phrases, subscriptions
from misybot.notify.times import minutes_in, quiet_span
from misybot.replies import alert_push_reply

logger = logging.getLogger(__name__)


def _text(tracker: Tracker) -> str:
    return (tracker.latest_message or {}).get("text") or ""


def _say_standing(dispatcher: CollectingDispatcher, response: str, standing, **extra) -> None:
    quiet = f"{standing.quiet[0]}–{standing.quiet[1]}" if standing.quiet else "none"
    dispatcher.utter_message(
        response=response,
        severity=(standing.alerts.value if standing.alerts else "none"),
        digest_at=standing.digest_at or "none",
        quiet=quiet,
        timezone=standing.timezone,
        **extra,
    )


class _SubscriptionAction(RegisteredUserAction):
    async def respond(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, sender: Sender
    ) -> list[EventType]:
        try:
            await self.change(dispatcher, tracker, sender)
        except MisybotError as error:
            dispatcher.utter_message(
                response="utter_conflict", command="subscribe", message=str(error)
            )
        except SQLAlchemyError as error:
            logger.warning("actions.subscription_failed error=%s", error)
            dispatcher.utter_message(
                response="utter_orchestrator_unavailable", command="subscribe", details="-"
            )
        return []

    @abstractmethod
    async def change(self, dispatcher, tracker: Tracker, sender: Sender) -> None:
        """Make the change and say the person's standing."""


class ActionSubscribeAlerts(_SubscriptionAction):
    """New alerts of a severity (or worse) pushed: "alert me about critical stock"."""

    def name(self) -> str:
        return "action_subscribe_alerts"

    async def change(self, dispatcher, tracker: Tracker, sender: Sender) -> None:
        entity = next(tracker.get_latest_entity_values("severity"), None)
        severity = phrases.severity_in(_text(tracker), entity)
        standing = await db_write(subscriptions.subscribe_alerts, sender.actor, severity)
        _say_standing(dispatcher, "utter_subscribed_alerts", standing)


class ActionSubscribeDigest(_SubscriptionAction):
    """The digest every day at a local time: "send me the daily digest at 7"."""

    def name(self) -> str:
        return "action_subscribe_digest"

    async def change(self, dispatcher, tracker: Tracker, sender: Sender) -> None:
        times = minutes_in(_text(tracker))
        standing = await db_write(
            subscriptions.subscribe_digest, sender.actor, times[0] if times else None
        )
        _say_standing(dispatcher, "utter_subscribed_digest", standing)


class ActionUnsubscribe(_SubscriptionAction):
    """Ends the subscriptions named ("stop the digest", "no more alerts"; both if none)."""

    def name(self) -> str:
        return "action_unsubscribe"

    async def change(self, dispatcher, tracker: Tracker, sender: Sender) -> None:
        kinds = phrases.feeds_named(_text(tracker))
        ended = await db_write(subscriptions.unsubscribe, sender.actor, kinds)
        standing = await db(subscriptions.standing, sender.actor)
        _say_standing(
            dispatcher,
            "utter_unsubscribed" if ended else "utter_not_subscribed",
            standing,
            ended=" and ".join(kinds),
        )


class ActionSetQuietHours(_SubscriptionAction):
    """Quiet hours ("quiet hours 22:00 to 07:00"): nothing is pushed then, it waits."""

    def name(self) -> str:
        return "action_set_quiet_hours"

    async def change(self, dispatcher, tracker: Tracker, sender: Sender) -> None:
        text = _text(tracker)
        span = quiet_span(text)
        if span is None and not phrases.turning_off(text):
            dispatcher.utter_message(response="utter_ask_quiet_hours")
            return
        standing = await db_write(subscriptions.set_quiet_hours, sender.actor, span)
        response = "utter_quiet_hours_set" if span else "utter_quiet_hours_cleared"
        _say_standing(dispatcher, response, standing)


class ActionDeliverNotification(Action):
    """Render what the worker pushed (``EXTERNAL_notification``, entity notification_id) —
    only in the conversation of the person it is for."""

    def name(self) -> str:
        return "action_deliver_notification"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        raw = next(tracker.get_latest_entity_values("notification_id"), None)
        sender = await identify(tracker)
        content = None
        user_id = sender.actor.user_id if sender.registered else None
        if (
            user_id is not None
            and str(raw or "").isdigit()
            and tracker.sender_id == person_conversation(user_id)
        ):
            try:
                content = await db(outbox.content_for, int(str(raw)), user_id)
            except SQLAlchemyError as error:
                logger.warning("actions.notification_unavailable error=%s", error)
        if content is None:
            dispatcher.utter_message(response="utter_agent_result_unknown", execution_id=raw)
            return []
        if content.kind == outbox.ALERT:
            utter(dispatcher, alert_push_reply(content.alert))
            return []
        return render(dispatcher, content.execution, company=content.company)

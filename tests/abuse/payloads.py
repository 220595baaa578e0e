"""Hypothesis strategies for what a caller can put in a signed webhook: any JSON value where the
providers document a shape, strings with NUL, lone surrogates, emoji and runs of thousands of
characters, numbers that are NaN, infinite or huge. Shared by the parser-level properties and the
HTTP fuzzing of the running server."""

from __future__ import annotations

from hypothesis import strategies as st

PHONE_NUMBER_ID = "106540352242922"
PAGE_ID = "104420000000001"
IG_ACCOUNT_ID = "17841400000000001"

# Every code point, the surrogates (lone in a Python string) and the C0 controls included.
any_character = st.characters(exclude_categories=())
long_run = st.builds(lambda char, count: char * count, any_character, st.integers(1, 5000))
any_text = st.one_of(st.text(any_character, max_size=60), long_run)
any_number = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
)
any_leaf = st.one_of(st.none(), st.booleans(), any_number, any_text)
any_json = st.recursive(
    any_leaf,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(any_character, max_size=12), children, max_size=4),
    ),
    max_leaves=12,
)


def either(documented):
    """The documented shape most of the time, anything else sometimes."""
    return st.one_of(documented, documented, documented, any_json)


digits = st.text("0123456789", min_size=1, max_size=400)
ids = st.one_of(st.text(min_size=1, max_size=40), st.text(any_character, max_size=300))

whatsapp_message = st.fixed_dictionaries(
    {
        "from": either(digits),
        "id": either(ids),
        "timestamp": either(st.just("1767225600")),
        "type": either(
            st.sampled_from(["text", "image", "location", "interactive", "button", "reaction"])
        ),
    },
    optional={
        "text": either(st.fixed_dictionaries({"body": either(any_text)})),
        "image": either(st.fixed_dictionaries({"id": either(ids), "mime_type": either(any_text)})),
        "location": either(
            st.fixed_dictionaries({"latitude": either(any_number), "longitude": any_json})
        ),
        "interactive": either(
            st.fixed_dictionaries(
                {"button_reply": either(st.fixed_dictionaries({"id": any_json, "title": any_text}))}
            )
        ),
        "button": either(st.fixed_dictionaries({"payload": any_json, "text": any_text})),
        "reaction": either(st.fixed_dictionaries({"emoji": any_text})),
    },
)
whatsapp_status = st.fixed_dictionaries(
    {"id": either(ids), "status": either(st.sampled_from(["sent", "delivered", "read"]))},
    optional={"errors": any_json},
)
whatsapp_payload = st.fixed_dictionaries(
    {
        "object": st.just("whatsapp_business_account"),
        "entry": either(
            st.lists(
                st.fixed_dictionaries(
                    {
                        "id": any_json,
                        "changes": either(
                            st.lists(
                                st.fixed_dictionaries(
                                    {
                                        "field": either(st.just("messages")),
                                        "value": either(
                                            st.fixed_dictionaries(
                                                {
                                                    "metadata": either(
                                                        st.fixed_dictionaries(
                                                            {
                                                                "phone_number_id": either(
                                                                    st.just(PHONE_NUMBER_ID)
                                                                )
                                                            }
                                                        )
                                                    ),
                                                    "contacts": any_json,
                                                    "messages": either(
                                                        st.lists(whatsapp_message, max_size=3)
                                                    ),
                                                    "statuses": either(
                                                        st.lists(whatsapp_status, max_size=2)
                                                    ),
                                                }
                                            )
                                        ),
                                    }
                                ),
                                max_size=2,
                            )
                        ),
                    }
                ),
                max_size=2,
            )
        ),
    }
)


def messaging_payload(object_name: str, account_id: str):
    """A ``page`` (Messenger) or ``instagram`` webhook of any shape."""
    event = st.fixed_dictionaries(
        {
            "sender": either(st.fixed_dictionaries({"id": either(digits)})),
            "recipient": any_json,
            "timestamp": either(st.integers(0, 2**40)),
        },
        optional={
            "message": either(
                st.fixed_dictionaries(
                    {"mid": either(ids), "text": either(any_text)},
                    optional={
                        "quick_reply": either(st.fixed_dictionaries({"payload": any_json})),
                        "attachments": either(
                            st.lists(
                                st.fixed_dictionaries(
                                    {
                                        "type": either(st.sampled_from(["image", "location"])),
                                        "payload": either(
                                            st.fixed_dictionaries(
                                                {"url": any_json, "coordinates": any_json}
                                            )
                                        ),
                                    }
                                ),
                                max_size=3,
                            )
                        ),
                        "is_echo": any_json,
                    },
                )
            ),
            "postback": either(st.fixed_dictionaries({"title": any_text, "payload": any_json})),
            "reaction": either(
                st.fixed_dictionaries({"action": any_json, "emoji": any_text, "mid": any_json})
            ),
        },
    )
    return st.fixed_dictionaries(
        {
            "object": st.just(object_name),
            "entry": either(
                st.lists(
                    st.fixed_dictionaries(
                        {
                            "id": either(st.just(account_id)),
                            "messaging": either(st.lists(event, max_size=3)),
                        },
                        optional={"standby": any_json},
                    ),
                    max_size=2,
                )
            ),
        }
    )


messenger_payload = messaging_payload("page", PAGE_ID)
instagram_payload = messaging_payload("instagram", IG_ACCOUNT_ID)

# Twilio posts a form: every value is a string (a form cannot carry a lone surrogate), but any.
form_character = st.characters(exclude_categories=("Cs",))
form_value = st.one_of(
    st.text(form_character, max_size=40),
    st.builds(lambda char, count: char * count, form_character, st.integers(1, 5000)),
)
twilio_form = st.fixed_dictionaries(
    {
        "MessageSid": st.one_of(st.text(min_size=1, max_size=40), form_value),
        "From": st.one_of(st.builds(lambda number: f"whatsapp:+{number}", digits), form_value),
    },
    optional={
        "Body": form_value,
        "NumMedia": st.one_of(st.sampled_from(["0", "1", "11", "-1", "x"]), form_value),
        "MediaUrl0": form_value,
        "MediaContentType0": form_value,
        "Latitude": st.one_of(st.sampled_from(["nan", "inf", "91", "38.7"]), form_value),
        "Longitude": st.one_of(st.sampled_from(["-inf", "1e400", "-9.1"]), form_value),
        "ButtonPayload": form_value,
        "ProfileName": form_value,
    },
)

# A Mailgun route's parsed fields (the signature fields are added by the caller).
mailgun_fields = st.fixed_dictionaries(
    {},
    optional={
        "from": form_value,
        "sender": form_value,
        "subject": form_value,
        "body-plain": form_value,
        "body-html": form_value,
        "Message-Id": form_value,
        "message-headers": st.one_of(form_value, st.just('[["From", "a@b.c"], ["X", 1]]')),
        "body-mime": form_value,
    },
)

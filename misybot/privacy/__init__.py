"""Privacy requests: hand a person everything held about them (``export``), erase it from
every store (``erase``), and keep message bodies no longer than a set time (``retention``).

A person is found in the stores by their user id and by every address of theirs: the channel
identities linked to them, the e-mail and phone of their profile, and the addresses of the
messages stored as theirs. Their conversations (the tracker store) are their person's
(``user:<id>``), the ones their messages were written in before they were linked (each
message's sender, as its connector spelt it), and their local (``rest:``) conversations.

Erasing keeps the business records (stock movements, orders, alerts, report figures) and every
counter, pointing at an anonymised account, and removes what identifies the person or what
they wrote: profile fields, links, invitations, message bodies and addresses, conversation
events, their report files, what their agent runs were asked and answered. Of an inbound
message only a salted hash of its provider id is left (``provider_id_digest``, written with
every message), so a late redelivery is still a duplicate and is not answered.
"""

"""Replicas behind one port: ``connectors.serve``'s shared socket (``make run REPLICAS=2``)."""

from __future__ import annotations

import socket

import pytest

from connectors.serve import shared_socket
from testkit.processes import free_port


def test_replicas_listen_on_one_port_and_the_kernel_hands_each_connection_to_one():
    port = free_port()
    first, second = shared_socket("127.0.0.1", port), shared_socket("127.0.0.1", port)
    connections = 16
    try:
        for sock in (first, second):
            # room for every connection on either socket: the kernel picks a socket by a hash
            # of the client's port, and a full backlog drops the handshake until connect times out
            sock.listen(connections)
            sock.settimeout(0.05)
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(connections)]
        accepted = {id(first): 0, id(second): 0}
        for _ in range(200):  # until every connection was taken by one of them
            for sock in (first, second):
                try:
                    conn, _ = sock.accept()
                except TimeoutError:
                    continue
                conn.close()
                accepted[id(sock)] += 1
            if sum(accepted.values()) == len(clients):
                break
        assert sum(accepted.values()) == len(clients)
        for client in clients:
            client.close()
    finally:
        first.close()
        second.close()


def test_a_port_held_without_sharing_is_refused():
    port = free_port()
    with socket.socket() as plain:
        plain.bind(("127.0.0.1", port))
        plain.listen(1)
        with pytest.raises(OSError):
            shared_socket("127.0.0.1", port)

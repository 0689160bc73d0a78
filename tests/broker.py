"""The test suite's hand on the Redis broker."""

from __future__ import annotations

from kombu import Connection


def clear_queue(broker: str, queue: str) -> None:
    """Delete `queue` and kombu's bindings of it: the messages on it are gone."""
    with Connection(broker) as conn:
        client = conn.default_channel.client
        client.delete(queue, *client.keys(f"_kombu.binding*.{queue}"))

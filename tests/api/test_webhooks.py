"""The webhook outbox: signed deliveries, in order, after a receiver that was down."""

from __future__ import annotations

import json
import time

from api import events
from api.db import transaction
from api.webhooks import SIGNATURE_HEADER, sign, verify
from tests.api.conftest import Service, small_market
from tests.api.figures import figure, scaled
from tests.api.test_serve import Receiver


def test_signature_round_trip() -> None:
    """A signature verifies with its secret and body only, and not when stale."""
    body = b'{"seq": 1}'
    header = sign("whsec_a", body, int(time.time()))
    assert verify("whsec_a", body, header)
    assert not verify("whsec_b", body, header)
    assert not verify("whsec_a", body + b" ", header)
    assert not verify("whsec_a", body, sign("whsec_a", body, int(time.time()) - 3600))
    assert not verify("whsec_a", body, "garbage")


def test_receiver_down_then_up_gets_every_event_in_order(service: Service) -> None:
    """Events emitted while the receiver answers 503 are retried with backoff and
    arrive, each once, in order, once it is back."""
    service.import_market(small_market())
    agency = service.key("agency", "isl-agency")
    receiver = Receiver()
    receiver.down = True
    try:
        hook = service.client.put(
            "/v1/agencies/isl-agency/webhook",
            json={"url": receiver.url},
            headers=service.auth(agency),
        )
        secret = hook.json()["secret"]
        factory = service.client.app.state.sessions
        for n in range(5):
            with transaction(factory) as session:
                events.emit(session, "isl-agency", "test.event", {"n": n})
        down_s = scaled("CAREMATCH_FAULT_WEBHOOK_DOWN_S", 2.5)
        time.sleep(down_s)  # several failed attempts
        assert receiver.received == []
        receiver.down = False
        back_at = deadline = time.monotonic()
        deadline += 30 + service.settings.webhook_max_backoff_s
        while len(receiver.received) < 5:
            assert time.monotonic() < deadline, f"{len(receiver.received)} of 5 arrived"
            time.sleep(0.1)
        all_in_s = time.monotonic() - back_at
        time.sleep(0.5)
        bodies = [json.loads(body) for _, body in receiver.received]
        assert [b["data"]["n"] for b in bodies] == [0, 1, 2, 3, 4]
        assert [b["seq"] for b in bodies] == [1, 2, 3, 4, 5]
        assert all(verify(secret, body, h[SIGNATURE_HEADER]) for h, body in receiver.received)
        figure(
            "webhook receiver down",
            down_s=down_s,
            max_backoff_s=service.settings.webhook_max_backoff_s,
            events=5,
            all_delivered_after_back_s=round(all_in_s, 1),
            in_order=True,
        )
    finally:
        receiver.close()

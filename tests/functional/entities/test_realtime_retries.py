"""ws_open and ws_push under Lambda's retry of a failed asynchronous invocation: nothing is sent twice."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.functional.entities.test_entities_realtime import connect, hang_up
from tests.support.entities_stack import Platform, RecordingLambda, RecordingManagement


class FlakyManagement(RecordingManagement):
    """The management API failing the first time a given frame is posted (a throttle, a blip)."""

    def __init__(self, failing_frame: str) -> None:
        super().__init__()
        self.failing_frame = failing_frame
        self.failed = False

    def post_to_connection(self, *, ConnectionId: str, Data: bytes) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        if not self.failed and Data.decode() == self.failing_frame:
            self.failed = True
            raise ClientError({"Error": {"Code": "LimitExceededException", "Message": "Slow down"}}, "PostToConnection")
        return super().post_to_connection(ConnectionId=ConnectionId, Data=Data)


@pytest.fixture
def flaky(aws_env: None) -> FlakyManagement:
    from chalicelib import aws

    recorder = FlakyManagement("40")
    aws.inject("apigatewaymanagementapi", recorder)
    return recorder


def test_a_retried_ws_open_sends_the_open_packet_once(
    platform: Platform, lambdas: RecordingLambda, flaky: FlakyManagement
) -> None:
    from app import app

    platform.add_user("ann", "ops")
    connection_id, answer = connect(platform.sign_in("ann"))
    assert answer["statusCode"] == 200
    ((name, payload),) = lambdas.calls
    with pytest.raises(Exception, match="Slow down"):  # Lambda records the failure and retries the event
        app.handler_map[name](payload, None)
    assert app.handler_map[name](payload, None) == {"opened": True}
    frames = flaky.sent[connection_id]
    assert [f[0] for f in frames] == ["0", "4"] and frames[1] == "40"  # one open packet, then one 40
    assert json.loads(frames[0][1:])["sid"]


def test_a_ws_open_for_a_connection_gone_meanwhile_does_nothing(
    platform: Platform, lambdas: RecordingLambda, management: RecordingManagement
) -> None:
    from app import app

    platform.add_user("bob", "ops")
    connection_id, _ = connect(platform.sign_in("bob"))
    ((name, payload),) = lambdas.calls
    hang_up(connection_id)
    assert app.handler_map[name](payload, None) == {"opened": False}
    assert connection_id not in management.sent

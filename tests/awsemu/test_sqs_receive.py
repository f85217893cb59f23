"""ReceiveMessage with a backlog (patches/sqs_receive.py): every message exactly once, delayed,
in-flight and expired messages held back, and a receive that looks at a bounded number of messages
however long the queue is. No timings: the work is counted, not clocked."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.sqs.models import Message, Queue, sqs_backends

from awsemu.patches import sqs_receive

BACKLOG = 1000


def fill(sqs, url: str, count: int = BACKLOG) -> None:
    for start in range(0, count, 10):
        sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "MessageBody": f"m{start + i}"} for i in range(10)])


def test_a_backlog_drains_through_the_server_each_message_once(aws) -> None:
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName="backlog")["QueueUrl"]
    fill(sqs, url)
    seen: list[str] = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages"):
        assert len(messages) == 10
        seen += [m["Body"] for m in messages]
        out = sqs.delete_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])
        assert len(out["Successful"]) == 10 and not out.get("Failed")
    assert sorted(seen) == sorted(f"m{i}" for i in range(BACKLOG))
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "0"
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "0"


@pytest.fixture
def sqs():
    sqs_receive.install()
    with mock_aws():
        yield boto3.client("sqs", region_name="ap-southeast-1", aws_access_key_id="x", aws_secret_access_key="x")


def queue_of(url: str) -> Queue:
    return sqs_backends[DEFAULT_ACCOUNT_ID]["ap-southeast-1"].get_queue(url.rsplit("/", 1)[1])


def test_in_flight_delayed_and_expired_messages_are_held_back(sqs) -> None:
    url = sqs.create_queue(QueueName="held")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="in-flight")
    (taken,) = sqs.receive_message(QueueUrl=url, VisibilityTimeout=300)["Messages"]
    sqs.send_message(QueueUrl=url, MessageBody="delayed", DelaySeconds=300)
    sqs.send_message(QueueUrl=url, MessageBody="ready")
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]] == ["ready"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessagesDelayed"] == "1"
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "2"
    # visible again once its visibility timeout is cut to zero
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=taken["ReceiptHandle"], VisibilityTimeout=0)
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=url)["Messages"]] == ["in-flight"]

    old = sqs.create_queue(QueueName="retention", Attributes={"MessageRetentionPeriod": "60"})["QueueUrl"]
    sqs.send_message(QueueUrl=old, MessageBody="expired")
    (expired,) = queue_of(old)._messages
    expired.sent_timestamp -= 61_000
    assert "Messages" not in sqs.receive_message(QueueUrl=old)


def test_a_receive_looks_at_a_bounded_number_of_messages_however_long_the_queue(sqs, monkeypatch) -> None:
    url = sqs.create_queue(QueueName="long")["QueueUrl"]
    fill(sqs, url)
    looked = {"visible": 0, "attributes": 0}

    def counting(name: str, prop: property) -> property:
        def get(self):
            looked[name] += 1
            return prop.fget(self)
        return property(get)

    monkeypatch.setattr(Message, "visible", counting("visible", Message.visible))
    monkeypatch.setattr(Queue, "attributes", counting("attributes", Queue.attributes))
    for _ in range(5):
        assert len(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]) == 10
    # moto alone evaluates every queue attribute (three scans of the backlog) per returned message
    assert looked["attributes"] == 0
    assert looked["visible"] <= 5 * 10

"""Unit tests of identity-policy evaluation (pure)."""

from __future__ import annotations

from awsemu.iam_policy import Check, Decision, conditions_hold, decide

ARN = "arn:aws:ec2:ap-southeast-1:123456789012:instance/i-1"


def allow(**statement) -> dict:
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", **statement}]}


def test_action_matching_is_case_insensitive_with_wildcards() -> None:
    doc = allow(Action="ec2:Describe*", Resource="*")
    assert decide([doc], Check("EC2:describeInstances", "*")) is Decision.ALLOW
    assert decide([doc], Check("ec2:TerminateInstances", "*")) is Decision.IMPLICIT_DENY


def test_a_scoped_resource_does_not_match_the_star_of_an_action_without_resource_permissions() -> None:
    doc = allow(Action="ec2:DescribeInstances", Resource="arn:aws:ec2:*:*:instance/*")
    assert decide([doc], Check("ec2:DescribeInstances", "*")) is Decision.IMPLICIT_DENY
    assert decide([doc], Check("ec2:DescribeInstances", ARN)) is Decision.ALLOW


def test_resource_matching_is_case_sensitive_and_not_resource_inverts() -> None:
    assert decide([allow(Action="*", Resource="arn:aws:ec2:*:*:Instance/*")], Check("ec2:X", ARN)) is Decision.IMPLICIT_DENY
    assert decide([allow(Action="*", NotResource="arn:aws:iam::*")], Check("ec2:X", ARN)) is Decision.ALLOW


def test_explicit_deny_wins_across_documents() -> None:
    deny = {"Statement": {"Effect": "Deny", "Action": "ec2:*", "Resource": "*"}}
    assert decide([allow(Action="*", Resource="*"), deny], Check("ec2:X", ARN)) is Decision.EXPLICIT_DENY


def test_a_missing_key_fails_positive_operators_and_passes_negated_and_if_exists() -> None:
    ctx: dict = {}
    assert not conditions_hold({"StringEquals": {"aws:ResourceTag/team": "a"}}, ctx)
    assert conditions_hold({"StringNotEquals": {"aws:ResourceTag/team": "a"}}, ctx)
    assert conditions_hold({"StringEqualsIfExists": {"aws:ResourceTag/team": "a"}}, ctx)
    assert conditions_hold({"Null": {"aws:ResourceTag/team": "true"}}, ctx)
    assert not conditions_hold({"Null": {"aws:ResourceTag/team": "false"}}, ctx)


def test_keys_are_case_insensitive_values_are_not_and_blocks_are_anded() -> None:
    ctx = {"aws:resourcetag/team": ("A",), "aws:requestedregion": ("eu-west-1",)}
    assert conditions_hold({"StringEquals": {"aws:ResourceTag/Team": ["B", "A"]}}, ctx)
    assert not conditions_hold({"StringEquals": {"aws:ResourceTag/team": "a"}}, ctx)
    assert conditions_hold({"StringEqualsIgnoreCase": {"aws:ResourceTag/team": "a"}}, ctx)
    assert not conditions_hold({"StringEquals": {"aws:ResourceTag/team": "A"},
                                "StringLike": {"aws:RequestedRegion": "us-*"}}, ctx)


def test_for_any_and_for_all_values_qualify_multi_valued_keys() -> None:
    ctx = {"aws:tagkeys": ("karpenter.sh/cluster", "Name")}
    assert conditions_hold({"ForAnyValue:StringEquals": {"aws:TagKeys": "Name"}}, ctx)
    assert not conditions_hold({"ForAllValues:StringEquals": {"aws:TagKeys": "Name"}}, ctx)
    assert conditions_hold({"ForAllValues:StringLike": {"aws:TagKeys": ["karpenter.sh/*", "Name"]}}, ctx)
    assert conditions_hold({"ForAllValues:StringEquals": {"aws:TagKeys": "x"}}, {})
    assert not conditions_hold({"ForAnyValue:StringEquals": {"aws:TagKeys": "x"}}, {})


def test_an_unknown_operator_makes_its_statement_not_match() -> None:
    doc = allow(Action="*", Resource="*", Condition={"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}})
    assert decide([doc], Check("ec2:X", ARN, {"aws:currenttime": ("2026-01-01T00:00:00Z",)})) is Decision.IMPLICIT_DENY

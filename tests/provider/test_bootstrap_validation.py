"""Bad input to the IAM bootstrap resources: each mistake is a diagnostic pointing at its
attribute, at plan time, and nothing is created."""

from bootstrap_support import leftovers


def test_iam_input_errors_name_the_attribute(ws, aws):
    ws.write(
        """
resource "karpenter_node_role" "bad" {
  name                   = "has space"
  additional_policy_arns = ["AmazonS3ReadOnlyAccess"]
}
resource "karpenter_instance_profile" "bad" {
  name      = "a/b"
  role_name = "ok"
}
resource "karpenter_controller_policy" "bad" {
  node_role_arn = "arn:aws:iam::123456789012:policy/not-a-role"
  queue_arn     = "not-an-arn"
}
resource "karpenter_controller_role" "bad" {
  policy_arn        = "KarpenterControllerPolicy-demo"
  oidc_provider_arn = "arn:aws:iam::123456789012:role/not-oidc"
  timeouts { create = "soon" }
}
""",
        aws.endpoint,
    )
    p = ws.run("plan", check=False)
    out = p.stdout + p.stderr
    assert p.returncode != 0
    expected = [
        ('name                   = "has space"', "Invalid IAM name"),
        ("additional_policy_arns", "Invalid policy ARN"),
        ('name      = "a/b"', "Invalid IAM name"),
        ("node_role_arn", "arn:aws:iam::...:role/<name>"),
        ('queue_arn     = "not-an-arn"', "Invalid ARN"),
        ("policy_arn", "arn:aws:iam::...:policy/<name>"),
        ("oidc_provider_arn", "oidc-provider/<name>"),
        ('create = "soon"', "is not a duration"),
    ]
    for line, message in expected:
        assert line in out and message in out, f"missing {line!r} / {message!r} in:\n{out}"
    assert leftovers(aws) == []

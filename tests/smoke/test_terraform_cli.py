"""terraform and tofu are real and both run the same configuration through its whole life."""

from __future__ import annotations

import json
from pathlib import Path

CONFIG = """
resource "terraform_data" "greeting" {
  input = "hello from ${var.who}"
}

variable "who" {
  type    = string
  default = "karpenter-rs"
}

output "greeting" {
  value = terraform_data.greeting.output
}
"""


def test_the_same_trivial_configuration_applies_and_destroys(tf, tmp_path: Path):
    (tmp_path / "main.tf").write_text(CONFIG)
    tf.run(tmp_path, "init", "-no-color")
    tf.apply(tmp_path)
    outputs = json.loads(tf.run(tmp_path, "output", "-json").stdout)
    assert outputs["greeting"]["value"] == "hello from karpenter-rs"

    tf.apply(tmp_path, "-var", "who=tests")
    outputs = json.loads(tf.run(tmp_path, "output", "-json").stdout)
    assert outputs["greeting"]["value"] == "hello from tests"

    tf.destroy(tmp_path)
    state = json.loads(tf.run(tmp_path, "show", "-json").stdout)
    assert "values" not in state or not state["values"].get("root_module", {}).get("resources")

"""No Rust module imports one that imports it back (checked by tests/tools/module_cycles.py)."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "tools"))

import module_cycles  # noqa: E402


def test_no_module_imports_one_that_imports_it_back():
    for crate in ("provider", "contract", "controller", "controller/core"):
        assert module_cycles.cycles(str(ROOT / crate)) == [], crate


def test_the_checker_finds_a_cycle(tmp_path):
    src = tmp_path / "src"
    (src / "a").mkdir(parents=True)
    (src / "lib.rs").write_text("pub mod a;\npub mod b;\n")
    (src / "a" / "mod.rs").write_text("use crate::b::Thing;\n")
    (src / "b.rs").write_text("// crate::a is only mentioned here\nuse super::a::Other;\n")
    assert module_cycles.cycles(str(tmp_path)) == [("a", "b")]

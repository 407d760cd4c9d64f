"""`prelabel normalize` as other programs call it: stdin in, JSON lines out, exit codes. One test pipes through a
real process (the console script and its streams); the rest run the command in process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from helpers import EXAMPLE_VOCAB, TINY_CLIP_CONFIG, invoke

PRELABEL = str(Path(sys.executable).parent / "prelabel")


def run(*args: str, stdin: str = ""):
    return invoke(*args, stdin=stdin)


def lines(completed) -> list[dict]:
    return [json.loads(line) for line in completed.stdout.splitlines()]


def test_one_json_object_per_input_line_in_order():
    answers = ["BMSB", "", "This is likely an adult brown marmorated stink bug on a leaf.", "weevils",
               "クサギカメムシの成虫", "a house cat", "Halyomorpha halis"]
    completed = subprocess.run([PRELABEL, "normalize", "--vocab", str(EXAMPLE_VOCAB)], capture_output=True,
                               input=("\n".join(answers) + "\n").encode("utf-8"), timeout=300)
    assert completed.returncode == 0, completed.stderr
    results = [json.loads(line) for line in completed.stdout.decode("utf-8").splitlines()]
    assert [r["input"] for r in results] == answers
    for result in results:
        assert set(result) == {"input", "label", "score", "method", "alternatives"}
        assert 0 <= result["score"] <= 1
    assert [r["label"] for r in results] == ["Halyomorpha halys", None, "Halyomorpha halys", None,
                                            "Halyomorpha halys", None, "Halyomorpha halys"]
    assert [r["method"] for r in results] == ["alias", "none", "rule", "ambiguous", "rule", "none", "fuzzy"]
    assert {a["label"] for a in results[3]["alternatives"]} == {
        "Sitophilus zeamais", "Sitophilus oryzae", "Sitophilus granarius"}


def test_windows_line_endings_and_a_last_line_without_newline():
    completed = run("normalize", "--vocab", str(EXAMPLE_VOCAB), stdin="medfly\r\nrice weevil")
    assert [(r["input"], r["label"]) for r in lines(completed)] == [
        ("medfly", "Ceratitis capitata"), ("rice weevil", "Sitophilus oryzae")]


def test_bad_vocabulary_exits_2_with_the_problems_on_stderr(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("domain: d\nlabels:\n  - label: A\n    aliases: [x\n", encoding="utf-8")
    completed = run("normalize", "--vocab", str(broken), stdin="x\n")
    assert completed.exit_code == 2
    assert completed.stdout == ""
    # The line and column of the unclosed bracket, not the line after the file's end where PyYAML gave up.
    assert (f"{broken}:4:14: malformed YAML: did not find expected ',' or ']' at line 5, column 1: a flow sequence "
            "opened here is not closed") in completed.stderr
    missing = run("normalize", "--vocab", str(tmp_path / "none.yaml"), stdin="x\n")
    assert missing.exit_code == 2 and "file not found" in missing.stderr


def test_bad_encoder_spec_exits_2(tmp_path):
    completed = run("normalize", "--vocab", str(EXAMPLE_VOCAB), "--text-encoder", "bert:x", stdin="x\n")
    assert completed.exit_code == 2
    assert "unknown kind 'bert'" in completed.stderr
    completed = run("normalize", "--vocab", str(EXAMPLE_VOCAB), "--text-encoder",
                    f"sentence-transformers:{tmp_path}/nothing", stdin="x\n")
    assert completed.exit_code == 2 and "is not a directory" in completed.stderr


def test_missing_vocab_option_is_a_usage_error():
    completed = run("normalize", stdin="x\n")
    assert completed.exit_code == 2
    assert "--vocab" in completed.stderr


def test_embedding_stage_from_the_command_line(minilm_path, tmp_path):
    vocabulary = tmp_path / "defects.yaml"
    vocabulary.write_text("domain: defects\nlabels:\n  - label: corrosion\n  - label: scratch\n", encoding="utf-8")
    completed = run("normalize", "--vocab", str(vocabulary), "--text-encoder",
                    f"sentence-transformers:{minilm_path}", stdin="rust\nscratches\n")
    assert completed.exit_code == 0, completed.stderr
    results = lines(completed)
    assert [(r["label"], r["method"]) for r in results] == [("corrosion", "embedding"), ("scratch", "rule")]
    tiny = run("normalize", "--vocab", str(vocabulary), "--text-encoder", f"open_clip:{TINY_CLIP_CONFIG}:",
               stdin="rust\n")
    assert tiny.exit_code == 0, tiny.stderr
    assert len(lines(tiny)) == 1

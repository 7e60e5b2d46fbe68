"""`verimap bench speed|cache` end to end on tiny settings: they run, report every row, and write their block."""

from __future__ import annotations

import pytest

from verimap.cli import main


def test_bench_speed_writes_its_table_and_plot(tmp_path, capsys, shared_data):
    pytest.importorskip("chromadb")
    pytest.importorskip("matplotlib")
    md = tmp_path / "benchmarks.md"
    md.write_text("# Benchmarks\n\nkept text\n")
    rc = main(
        [
            "bench",
            "speed",
            "--data",
            str(shared_data),
            "--candidates",
            "3",
            "--repeats",
            "1",
            "--index-docs",
            "5",
            "--write",
            str(md),
            "--png",
            str(tmp_path / "speed.png"),
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0
    for row in ("cross-encoder forward", "pooled cosine cold", "MaxSim warm", "verifier cold", "verifier warm"):
        assert f"| {row} |" in out
    assert "passages/s" in out and "fp32 ColBERT-style" in out
    text = md.read_text()
    assert "kept text" in text and text.count("<!-- bench-speed:begin -->") == 1
    assert (tmp_path / "speed.png").stat().st_size > 1000
    main(
        [
            "bench",
            "speed",
            "--data",
            str(shared_data),
            "--candidates",
            "2",
            "--repeats",
            "1",
            "--index-docs",
            "3",
            "--write",
            str(md),
        ]
    )
    assert md.read_text().count("<!-- bench-speed:begin -->") == 1  # replaced, not appended


def test_bench_cache_reports_each_option(capsys, shared_data):
    argv = ["bench", "cache", "--data", str(shared_data), "--pairs", "20", "--auc-limit", "20", "--scifact-docs", "12"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    for fmt in ("| int8 |", "| fp16 |", "| fp32 |", "no cache (reference)", "| codec (2-bit residuals) |"):
        assert fmt in out
    assert "| codec, no punctuation |" in out and "bytes per passage" in out and "PAWS AUC" in out


def test_bench_index_reports_throughput_parts_and_bytes(tmp_path, capsys, shared_data):
    pytest.importorskip("chromadb")
    md = tmp_path / "benchmarks.md"
    assert main(["bench", "index", "--data", str(shared_data), "--docs", "30", "--write", str(md)]) == 0
    out = capsys.readouterr().out
    assert (
        "| 30 |" in out
        and "documents/s" in out
        and "| spaCy parse |" in out
        and "| encoder forward (stock layers) |" in out
    )
    assert "| verifier tower (its own top layers) |" in out and "bare stock MiniLM forward" in out
    assert "truncated passages: 0; truncation warnings: 0" in out and "× fp32" in out
    assert "<!-- bench-index:begin -->" in md.read_text()


@pytest.mark.parametrize(
    "argv",
    [
        ["bench", "speed", "--candidates", "0"],
        ["bench", "speed", "--repeats", "0"],
        ["bench", "cache", "--pairs", "1"],
        ["bench", "index", "--docs", "0"],
        ["bench", "index", "--corpus", "/nowhere"],
    ],
)
def test_bench_bad_arguments_are_clear_errors(argv, capsys):
    assert main(argv) == 2
    assert "verimap: error:" in capsys.readouterr().err


@pytest.mark.slow
def test_bench_serve_writes_its_table(tmp_path, capsys, shared_data):
    pytest.importorskip("chromadb")
    pytest.importorskip("uvicorn")
    md = tmp_path / "benchmarks.md"
    md.write_text("# Benchmarks\n\nkept text\n")
    argv = ["bench", "serve", "--data", str(shared_data), "--candidates", "8", "--repeats", "2", "--requests", "16"]
    assert main([*argv, "--concurrency", "4", "--search-repeats", "1", "--threads", "1", "--write", str(md)]) == 0
    out = capsys.readouterr().out
    for row in ("in process: `Verifier.rank`, warm", "HTTP: `POST /v2/rerank`", "a `verimap search` process per query"):
        assert row in out
    assert "16 requests of 8 candidates from 4 concurrent clients" in out and "0 errors" in out
    assert "0 differed" in out
    text = md.read_text()
    assert "kept text" in text and text.count("<!-- bench-serve:begin -->") == 1


@pytest.mark.parametrize(
    "argv",
    [
        ["bench", "serve", "--candidates", "10", "50"],
        ["bench", "serve", "--concurrency", "0"],
        ["bench", "serve", "--requests", "-1"],
    ],
)
def test_bench_serve_bad_arguments_are_clear_errors(argv, capsys):
    assert main(argv) == 2
    assert "verimap: error:" in capsys.readouterr().err

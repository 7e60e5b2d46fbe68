"""One error family: everything verimap raises on purpose is a VerimapError, and keeps its old builtin parent."""

from __future__ import annotations

import pytest

import verimap
from verimap.errors import CLIError, ConfigError, StoreError, TokenFileError, VerimapError, WeightsError


@pytest.mark.parametrize(
    "error, builtin",
    [
        (WeightsError, ValueError),
        (ConfigError, ValueError),
        (StoreError, RuntimeError),
        (TokenFileError, ValueError),
        (CLIError, Exception),
    ],
)
def test_every_error_is_a_verimap_error_and_keeps_its_builtin_parent(error, builtin):
    assert issubclass(error, VerimapError) and issubclass(error, builtin)


def test_the_old_import_locations_still_work():
    from verimap.cli import CLIError as cli_error
    from verimap.config import ConfigError as config_error
    from verimap.store import StoreError as store_error
    from verimap.weights import WeightsError as weights_error

    assert (cli_error, config_error, store_error, weights_error) == (CLIError, ConfigError, StoreError, WeightsError)
    assert verimap.VerimapError is VerimapError and verimap.WeightsError is WeightsError


def test_one_except_catches_a_bad_token_file_a_bad_config_and_bad_weights(tmp_path, encoder):
    from verimap.cache import TokenCache, attach_token_file, check_token_file
    from verimap.config import load_config

    text = tmp_path / "notes.sqlite"
    text.write_text("not a database " * 100)
    (tmp_path / "verimap.toml").write_text("k = 0\n")
    attempts = [
        lambda: TokenCache().attach(text),  # was a bare ValueError
        lambda: attach_token_file(TokenCache(), text, "MyComponent"),
        lambda: check_token_file("  "),
        lambda: load_config(tmp_path / "verimap.toml"),
        lambda: verimap.Verifier(tmp_path / "missing.safetensors", encoder=encoder),
    ]
    for attempt in attempts:
        with pytest.raises(VerimapError):
            attempt()
    with pytest.raises(TokenFileError, match=r"MyComponent: token_file .*notes\.sqlite.* cannot be used"):
        attach_token_file(TokenCache(), text, "MyComponent")

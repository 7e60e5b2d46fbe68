"""verimap-haystack is its own distribution: importing a component without Haystack names what to install."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    "module",
    [
        "haystack_integrations.components.rankers.verimap",
        "haystack_integrations.components.retrievers.verimap",
        "haystack_integrations.components.embedders.verimap",
        "haystack_integrations.components.caching.verimap",
    ],
)
def test_importing_a_component_without_haystack_names_the_package_to_install(module):
    code = f"import sys; sys.modules['haystack'] = None; import {module}"  # None: as if Haystack were not installed
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(
        "ImportError: verimap's Haystack components: 'haystack' is not installed; pip install 'haystack-ai>=3.4,<4'"
    )
    assert "ModuleNotFoundError" not in last


def test_the_distribution_is_installed_with_its_type_marker():
    from importlib import metadata, resources

    assert metadata.distribution("verimap-haystack").requires is not None
    assert any(r.startswith("verimap") for r in metadata.requires("verimap-haystack"))
    assert resources.files("haystack_integrations.components.rankers.verimap").joinpath("py.typed").is_file()

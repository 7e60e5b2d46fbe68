"""langchain-verimap is its own distribution: importing it without LangChain names what to install."""

from __future__ import annotations

import subprocess
import sys


def test_importing_the_adapter_without_langchain_names_the_package_to_install():
    code = "import sys; sys.modules['langchain_core'] = None; import langchain_verimap"  # as if not installed
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(
        "ImportError: langchain_verimap: 'langchain_core' is not installed; pip install 'langchain-core>=1.0,<2'"
    )
    assert "ModuleNotFoundError" not in last


def test_the_distribution_is_installed_with_its_type_marker():
    from importlib import metadata, resources

    assert any(r.startswith("verimap") for r in metadata.requires("langchain-verimap"))
    assert resources.files("langchain_verimap").joinpath("py.typed").is_file()

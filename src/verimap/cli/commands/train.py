"""``verimap train``: reproduce the shipped weights, or fine-tune on your own labelled pairs.

    verimap train --config shipped --data ../shared/data --out verifier.safetensors
    verimap train --config shipped --data ../shared/data --extra-data rows --out verifier.safetensors
    verimap train --pairs my_pairs.jsonl --out my_verifier.safetensors      # {"a","b","label"} lines

The shared data folder is ``--data``, else ``data`` in ./verimap.toml, else ``$VERIMAP_DATA_DIR`` (not needed with
``--pairs``).

With ``--pairs``, 20% of your pairs (by anchor text) are held back; the report gives the held-back AUC and the
accept rate per source, and the run starts from the shipped weights unless ``--from-scratch``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from importlib import resources
from pathlib import Path

from verimap.cli.options import add_data_argument, data_folder, resolve
from verimap.errors import CLIError


def cmd_train(args: argparse.Namespace) -> int:
    from verimap.training.trainer import TrainConfig, train
    from verimap.weights import SHIPPED

    if args.config:
        path = Path(args.config)
        if not path.is_file():
            packaged = resources.files("verimap.training") / "configs" / f"{args.config}.toml"
            if not packaged.is_file():
                raise CLIError(f"config not found: {args.config}")
            path = Path(str(packaged))
        try:
            config = TrainConfig.from_file(path)
        except (ValueError, TypeError) as exc:  # unknown keys, wrong types, bad values: one line, not a traceback
            raise CLIError(f"{path}: {exc}") from exc
    else:
        config = TrainConfig()
    if args.epochs:
        config.epochs = args.epochs
    user = None
    if args.pairs:
        user = Path(args.pairs)
        if not user.is_file():
            raise CLIError(f"pairs file not found: {user}")
        if not args.from_scratch and config.init_weights is None:
            config.init_weights = str(SHIPPED)
    # Your own pairs need no shared data. (Here --config is the training recipe: verimap.toml is only found in ./.)
    data = data_folder(args, resolve(args, config_flag=False)) if user is None else None
    if data is not None and args.extra_data:  # rows built from documented raw files (scripts/build_training_rows.py)
        missing = [d for d in args.extra_data if not Path(d).is_dir()]
        if missing:
            raise CLIError(f"--extra-data folder not found: {missing[0]}")
        data = [data, *map(Path, args.extra_data)]
    try:
        metrics = train(
            config,
            args.out,
            data_dir=data,
            user_pairs=user,
            cache_dir=None if args.no_cache else Path(args.cache_dir),
            command=shlex.join(["verimap", *sys.argv[1:]]),
            device=args.device,
        )
    except ValueError as exc:
        raise CLIError(str(exc)) from exc
    print(json.dumps(metrics, indent=2))
    return 0


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train the verifier (shipped recipe or your own labelled pairs)")
    p.add_argument(
        "--config", help="TOML training config, or a packaged name: shipped | tiny | lora | lora_cpu | lora_gpu"
    )
    p.add_argument("--pairs", help='your JSONL pairs {"a","b","label"}; fine-tunes the shipped weights')
    p.add_argument("--from-scratch", action="store_true", help="with --pairs: start from random weights")
    p.add_argument("--out", required=True, help="output .safetensors (its .json card is written beside it)")
    add_data_argument(p)
    p.add_argument(
        "--extra-data",
        action="append",
        metavar="DIR",
        help="another folder of sources in the shared data's layout, e.g. what scripts/build_training_rows.py writes",
    )
    p.add_argument("--epochs", type=int, help="override the config's epochs")
    p.add_argument("--cache-dir", default=".cache", help="where encoded token vectors are cached")
    p.add_argument("--no-cache", action="store_true", help="do not cache token vectors on disk")
    p.add_argument("--device", default="cpu", help="torch device for the encoder and network, e.g. cuda (default cpu)")
    p.set_defaults(func=cmd_train)

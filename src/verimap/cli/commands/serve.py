"""``verimap serve``: the verifier as a long-lived HTTP service that Cohere and text-embeddings-inference clients
already speak (needs ``pip install 'verimap[serve]'``).

Routes: POST /v1/rerank and /v2/rerank (Cohere), /rerank (text-embeddings-inference), /verify, /explain; GET
/health, /info, /metrics. Each of the --workers processes loads the model and its token cache once; /health
answers 503 until then. Binds to 127.0.0.1 unless --host says otherwise. With --api-key-env NAME, every route but
/health needs `Authorization: Bearer $NAME`. A token file (--token-file, else <store>/verimap-tokens.sqlite when
the configured local store has one) is read through, never written. docs/serve.md has the details and the client
examples.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
from dataclasses import asdict
from pathlib import Path

from verimap.cli.options import add_config_argument, add_model_arguments, help_text, resolve
from verimap.config import Config
from verimap.errors import CLIError, ConfigError, WeightsError
from verimap.optional import require
from verimap.policy import MODES

TRUNCATION_HINT = "the encoder reads the start of each text: split longer documents to judge all of them"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def token_file(args: argparse.Namespace, cfg: Config) -> str | None:
    """``--token-file`` (it must exist: the service only reads it), else the configured local store's, if it has
    one."""
    from verimap.store import TOKEN_FILE

    if args.token_file:
        if not Path(args.token_file).is_file():
            raise CLIError(f"token file not found: {args.token_file}")
        return str(Path(args.token_file).resolve())
    found = Path(cfg.store) / TOKEN_FILE
    return str(found.resolve()) if cfg.host is None and found.is_file() else None


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        uvicorn = require("uvicorn", install="'verimap[serve]'", who="verimap serve")
        from verimap.serve.settings import SETTINGS_ENV, Settings
    except ImportError as exc:
        raise CLIError(str(exc)) from exc
    from verimap import weights as weights_io

    for name in ("workers", "max_documents", "concurrency"):
        if getattr(args, name) < 1:
            raise CLIError(f"--{name.replace('_', '-')} must be at least 1")
    if args.max_body_mb <= 0:
        raise CLIError("--max-body-mb must be positive")
    if args.threads is not None and args.threads < 1:
        raise CLIError("--threads must be at least 1")
    if not 0 < args.bind_port < 65536:
        raise CLIError(f"--port must be in 1..65535, got {args.bind_port}")
    cfg = resolve(args)
    settings = Settings(
        config=asdict(cfg),
        api_key_env=args.api_key_env,
        token_file=token_file(args, cfg),
        max_documents=args.max_documents,
        max_body_bytes=int(args.max_body_mb * 2**20),
        concurrency=args.concurrency,
        threads=args.threads,
    )
    try:
        key = settings.api_key()
        weights_io.load(cfg.weights)  # the card and the network only (no encoder): a bad path fails here, at once
    except ConfigError as exc:
        raise CLIError(f"--api-key-env: {exc}") from exc
    except (WeightsError, FileNotFoundError) as exc:
        raise CLIError(f"cannot load verifier weights {cfg.weights or '(shipped)'}: {exc}") from exc
    if cfg.encoder and not Path(cfg.encoder).is_dir():
        raise CLIError(f"cannot load encoder {cfg.encoder}: not a directory")
    os.environ[SETTINGS_ENV] = settings.to_json()  # each worker process builds its app from these

    host, port = args.bind_host, args.bind_port
    print(
        f"verimap serve: http://{host}:{port} — {args.workers} worker(s), mode {cfg.mode}, "
        f"{'API key from $' + args.api_key_env if key else 'no API key'}"
        + (f", token file {settings.token_file}" if settings.token_file else ""),
        file=sys.stderr,
    )
    if not is_loopback(host) and key is None:
        print(
            f"verimap serve: warning: listening on {host} without an API key: anyone who can reach it can use it "
            "(--api-key-env NAME sets one)",
            file=sys.stderr,
        )
    uvicorn.run(
        "verimap.serve.settings:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=args.workers,
        log_level=args.log_level,
        access_log=not args.no_access_log,
        timeout_graceful_shutdown=10,
    )
    return 0


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve",
        help="run the rerank service (Cohere / text-embeddings-inference API) on FastAPI + uvicorn",
        description=help_text(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # dest: `host` and `port` are the Chroma server's keys in verimap.toml, not the address this service binds.
    p.add_argument("--host", dest="bind_host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    p.add_argument("--port", dest="bind_port", type=int, default=8080, help="port (default: 8080)")
    p.add_argument("--workers", type=int, default=1, help="worker processes, each with its own model (default: 1)")
    p.add_argument(
        "--api-key-env", metavar="NAME", help="require `Authorization: Bearer $NAME` on every route but /health"
    )
    p.add_argument(
        "--token-file", metavar="FILE", help="token file to read through (default: the local store's, if any)"
    )
    p.add_argument("--mode", choices=MODES, help="policy of rerank requests that pass none (default: fuse)")
    p.add_argument("--max-documents", type=int, default=1000, help="documents or pairs per request (default: 1000)")
    p.add_argument("--max-body-mb", type=float, default=8.0, help="request body limit in MiB (default: 8)")
    p.add_argument("--concurrency", type=int, default=1, help="core calls at once per worker (default: 1)")
    p.add_argument("--threads", type=int, help="torch threads per worker (default: torch's; try cores / workers)")
    p.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"))
    p.add_argument("--no-access-log", action="store_true", help="do not log a line per request")
    add_config_argument(p)
    add_model_arguments(p)
    p.set_defaults(func=cmd_serve, truncation_hint=TRUNCATION_HINT)

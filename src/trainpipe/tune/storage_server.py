"""The shared study storage of a cluster: Optuna's gRPC storage proxy in front of a database.

``python -m trainpipe.tune.storage_server --db URL --port 13000`` serves the study database to
every tuning worker as ``tune.storage: grpc://HOST:13000`` (manifests/base/optuna-storage.yaml
runs it). Workers then need no database driver or credentials of their own.
"""

from __future__ import annotations

import argparse
import os
import sys

DEFAULT_PORT = 13000
DB_ENV = "TRAINPIPE_OPTUNA_DB"


def serve(db_url: str, *, host: str = "0.0.0.0", port: int = DEFAULT_PORT) -> None:
    """Serve ``db_url`` (a SQLAlchemy URL) over gRPC until the process is stopped."""
    import optuna
    from optuna.storages import run_grpc_proxy_server

    from trainpipe.tune.study import experimental_grpc_expected

    storage = optuna.storages.RDBStorage(db_url)
    with experimental_grpc_expected():
        run_grpc_proxy_server(storage, host=host, port=port)


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments and serve."""
    parser = argparse.ArgumentParser(
        prog="python -m trainpipe.tune.storage_server", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--db",
        default=os.environ.get(DB_ENV, ""),
        help=f"SQLAlchemy database URL (default ${DB_ENV})",
    )
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    args = parser.parse_args(argv)
    if not args.db:
        parser.error(f"--db or {DB_ENV} is required (e.g. postgresql://user@db/optuna)")
    serve(args.db, host=args.host, port=args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())

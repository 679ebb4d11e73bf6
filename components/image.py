"""The container image every component runs in (override with TRAINPIPE_IMAGE when compiling)."""

import os

DEFAULT_IMAGE = "ghcr.io/trainpipe/trainpipe:0.1.0-cpu"
IMAGE = os.environ.get("TRAINPIPE_IMAGE", DEFAULT_IMAGE)

"""trainpipe: a Kubeflow Pipelines component suite that automates model training end to end.

The core library (this package) never imports ``kfp``: every stage is a plain function with a typed
config in and a result object out. The KFP components in ``components/`` wrap these functions.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]

"""Training: the loop (one process or DDP), checkpoints, the model artifact, the entrypoint.

``python -m trainpipe.train --spec SPEC`` is the one entrypoint every backend runs.
"""

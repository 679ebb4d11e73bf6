#!/bin/sh
# The GPU checks of the training path, as one script for a GPU machine (sized for about 8
# minutes on one H100/H200-class GPU): the CUDA tests (tests/gpu: NCCL beside gloo, a CUDA job
# killed mid-epoch that resumes bit for bit, a real out-of-memory error backed off), then
# benchmarks/gpu.py under DDP, and under FSDP where there are several GPUs.
#
#   sh benchmarks/gpu_checks.sh                       # .venv/bin/python, else python3
#   PYTHON=/opt/torch/.venv/bin/python3 sh benchmarks/gpu_checks.sh
#
# src/ goes on PYTHONPATH, so a Python that already has a CUDA build of torch and trainpipe's
# runtime packages (pandas, pyarrow, scikit-learn, safetensors, prometheus-client, psutil,
# PyYAML) and pytest needs no install.
set -eu
cd "$(dirname "$0")/.."
if [ -z "${PYTHON:-}" ]; then
    if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
gpus=$("$PYTHON" -c 'import torch; print(torch.cuda.device_count())')
if [ "$gpus" -eq 0 ]; then
    echo "no CUDA device visible to $PYTHON (torch $("$PYTHON" -c 'import torch; print(torch.__version__)'))" >&2
    exit 1
fi
"$PYTHON" -c 'import torch; print("torch", torch.__version__, "on", torch.cuda.get_device_name(0))'
"$PYTHON" -m pytest -q -p no:cacheprovider -m gpu tests/gpu
"$PYTHON" benchmarks/gpu.py --strategy ddp
if [ "$gpus" -gt 1 ]; then
    "$PYTHON" benchmarks/gpu.py --strategy fsdp
fi

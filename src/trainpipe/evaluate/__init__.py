"""Model evaluation: metrics, latency, the quality gate and the HTML report.

Everything here is plain Python on top of numpy and scikit-learn; nothing imports ``kfp``.
"""

"""Experiment tracking: each pipeline run as an MLflow run (``tracking.mlflow``)."""

"""Hyperparameter tuning: an Optuna study shared by Katib-style parallel workers."""

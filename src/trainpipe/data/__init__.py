"""Data: sources, schema and validation, cleaning, and the train/validation/test split."""

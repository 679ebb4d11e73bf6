"""Launch training jobs: a JobSpec and the backends that run it."""

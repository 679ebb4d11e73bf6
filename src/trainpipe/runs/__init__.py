"""Pipeline runs: the stage records every stage writes, and the run summary built from them."""

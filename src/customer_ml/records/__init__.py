"""The append-only records and their proof: table declarations, append and read, the hash
chain, the lineage facts a run records about itself, alerts, the MLflow mirror and served
MLflow model, and the registry of champions and artifacts."""

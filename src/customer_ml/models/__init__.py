"""The model protocol and the models (churn, CLV + BTYD, segments, rule baselines,
evaluation, validation reports). Pure: imports nothing else of customer_ml."""

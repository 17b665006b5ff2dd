{#- Churn label, version 1: active customers, 90-day horizon (var churn_horizon_days). -#}
{{ churn_labels(var('churn_horizon_days')) }}

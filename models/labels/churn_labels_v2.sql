{#- Churn label, version 2: a 60-day horizon (var churn_v2_horizon_days), and customers with a
    support contact in the 14 days up to as_of are left out (support is handling them). -#}
{{ churn_labels(var('churn_v2_horizon_days'), exclude_support_days=14) }}

"""What a dbt build runs: training (context, quotas, costs, failures), scoring, retraining
decisions and their policy, monitoring, performance, drift, and the build's vars."""

"""customer-ml: reproducible customer ML on a dbt + DuckDB warehouse."""

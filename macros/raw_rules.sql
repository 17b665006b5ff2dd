{#- What a raw row must be to enter the pipeline: the loader's rules (customer_ml/load.py), guarded
    again here for rows that reached `raw` some other way. NULL when the row is valid, otherwise
    the first problem, as text. Staging keeps the valid rows; monitoring.raw_rows_excluded counts
    the others, and its test warns in every build while any exist (raw is append-only, so a row
    that failed every later build could never be cleared).

    The limits are the vars `max_amount` and `future_tolerance_hours`, which the loader reads too.

    Arguments:
        table (string): orders | customers | engagement_events | business_events
-#}
{% macro raw_row_problem(table) -%}
    {%- set latest = "_loaded_at + to_hours(cast(" ~ var('future_tolerance_hours') ~ " as bigint))" -%}
    {%- set checks = {
        'orders': [
            ("order_id is null or customer_id is null", 'NULL id'),
            ("ordered_at is null or amount is null", 'empty required value'),
            ("not isfinite(amount) or amount < 0 or amount > " ~ var('max_amount'), 'amount not finite, negative or above max_amount'),
            ("ordered_at > " ~ latest, 'event time after the load'),
            ("_available_at > " ~ latest, '_available_at after the load'),
            ("_available_at < ordered_at", '_available_at before the event'),
        ],
        'customers': [
            ("customer_id is null", 'NULL id'),
            ("updated_at > " ~ latest, 'event time after the load'),
            ("_available_at > " ~ latest, '_available_at after the load'),
            ("_available_at < updated_at", '_available_at before the event'),
        ],
        'engagement_events': [
            ("event_id is null or customer_id is null", 'NULL id'),
            ("event_type is null or occurred_at is null", 'empty required value'),
            ("occurred_at > " ~ latest, 'event time after the load'),
            ("_available_at > " ~ latest, '_available_at after the load'),
            ("_available_at < occurred_at", '_available_at before the event'),
        ],
        'business_events': [
            ("event_id is null", 'NULL id'),
            ("event_type is null or name is null or starts_at is null", 'empty required value'),
            ("_available_at > " ~ latest, '_available_at after the load'),
        ],
    } -%}
    case
        {%- for condition, problem in checks[table] %}
        when {{ condition }} then '{{ problem }}'
        {%- endfor %}
    end
{%- endmacro %}

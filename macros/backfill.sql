{#- The closing record of a backfill (customer_ml.replay.backfill.finish), on-run-end of a build on
    target backfill: succeeded when no node or test failed. A no-op on every other target. -#}
{% macro record_backfill(results) -%}
    {%- if execute and target.name == 'backfill' and flags.WHICH in ('build', 'run') -%}
        {%- set failed = results | selectattr('status', 'in', ['error', 'fail', 'runtime error']) | list -%}
        select customer_ml_backfill_finish(
            '{{ invocation_id }}', '{{ "failed" if failed else "succeeded" }}'
        )
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}

{#- Publish what analysts read (the lineage, serving and monitoring schemas) after each build
    whose nodes all succeeded, as `<target>.analyst.duckdb` beside the warehouse: written to a
    new file, then renamed over the old one in one step. A reader holding the old copy keeps a
    consistent view of it, any number of readers can open it read-only while the next build
    runs, and no reader can block a build: the build never opens the published file.
    `customer-ml where` prints its path. Views are copied as tables (a snapshot of what they
    showed when the build ended).

    Arguments:
        results: the build's results (on-run-end's `results`)
-#}
{% macro publish_for_analysts(results) -%}
    {%- if execute and flags.WHICH in ('build', 'run') -%}
        {%- set failed = results | selectattr('status', 'in', ['error', 'fail', 'runtime error']) | list -%}
        {%- if failed | length == 0 -%}
            {%- set published = target.path[:-7] ~ '.analyst.duckdb' -%}
            {%- set staging = published ~ '.' ~ invocation_id -%}
            {%- set relations = run_query(
                "select table_schema, table_name from information_schema.tables "
                ~ "where table_catalog = current_database() "
                ~ "and table_schema in ('lineage', 'serving', 'monitoring') order by all"
            ) -%}
            {%- do run_query("attach '" ~ staging ~ "' as analyst_copy") -%}
            {%- for schema in ['lineage', 'serving', 'monitoring'] -%}
                {%- do run_query("create schema if not exists analyst_copy." ~ schema) -%}
            {%- endfor -%}
            {%- for row in relations.rows -%}
                {%- do run_query(
                    "create table analyst_copy." ~ row[0] ~ "." ~ row[1]
                    ~ " as select * from " ~ row[0] ~ "." ~ row[1]
                ) -%}
            {%- endfor -%}
            {%- do run_query("detach analyst_copy") -%}
            select customer_ml_publish('{{ staging }}', '{{ published }}')
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}

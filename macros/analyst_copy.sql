{#- Publish what analysts read (the lineage, serving and monitoring schemas) after each build
    that ran a node analysts read (analyst_relevant), failed ones included (their failures,
    alerts and costs are records analysts need; lineage.builds says the build's status), as
    `<target>.analyst.duckdb` beside the warehouse: written to a
    new file, then renamed over the old one in one step. A reader holding the old copy keeps a
    consistent view of it, any number of readers can open it read-only while the next build
    runs, and no reader can block a build: the build never opens the published file, and the
    published file is read-only (mode 0444). `customer-ml where` prints its path.

    The new file starts as a byte copy of the last published one (customer_ml_stage_analyst_copy),
    so the records that grow with every build are not copied again: the append-only relations of
    `analyst_appended()` take only the groups of their key whose row count changed (a build's
    predictions, a seal's rows), and `analyst_views()` are views over the copy's own tables
    (an analyst's query computes them, not every build). Every other relation is copied whole
    (views as tables: what they showed when the build ended); a relation whose columns changed
    is copied whole, and one the warehouse no longer has is dropped.

    Arguments:
        results: the build's results (on-run-end's `results`)
-#}
{% macro publish_for_analysts(results) -%}
    {%- if execute and flags.WHICH in ('build', 'run') -%}
        {%- if analyst_relevant(results) -%}
            {%- set published = target.path[:-7] ~ '.analyst.duckdb' -%}
            {%- set staging = published ~ '.' ~ invocation_id -%}
            {%- set relations = analyst_relations('current_database()') -%}
            {%- do run_query("select customer_ml_stage_analyst_copy('" ~ published ~ "', '" ~ staging ~ "')") -%}
            {%- do run_query("attach '" ~ staging ~ "' as analyst_copy") -%}
            {%- for schema in ['lineage', 'serving', 'monitoring'] -%}
                {%- do run_query("create schema if not exists analyst_copy." ~ schema) -%}
            {%- endfor -%}
            {%- set wanted = relations.columns[0].values() -%}
            {%- for row in analyst_relations("'analyst_copy'").rows -%}
                {%- if row[0] not in wanted or row[0] in analyst_views() -%}
                    {%- do run_query("drop " ~ ('view' if row[1] == 'VIEW' else 'table')
                        ~ " analyst_copy." ~ row[0]) -%}
                {%- endif -%}
            {%- endfor -%}
            {%- set appended = analyst_appended() -%}
            {%- for row in relations.rows if row[0] not in analyst_views() -%}
                {%- if row[0] in appended and analyst_columns_match(row[0]) -%}
                    {%- do analyst_append_changed_groups(row[0], appended[row[0]]) -%}
                {%- else -%}
                    {%- do run_query("create or replace table analyst_copy." ~ row[0]
                        ~ " as select * from " ~ row[0]) -%}
                {%- endif -%}
            {%- endfor -%}
            {%- for name in analyst_views() if name in wanted -%}
                {%- set definition = run_query(
                    "select regexp_replace(sql, '^CREATE VIEW [^ ]+ AS ', '') from duckdb_views() "
                    ~ "where database_name = current_database() and schema_name || '.' || view_name = '"
                    ~ name ~ "'").columns[0].values() -%}
                {%- do run_query("create view analyst_copy." ~ name ~ " as " ~ definition[0]) -%}
            {%- endfor -%}
            {%- do analyst_comments(wanted) -%}
            {%- do run_query("detach analyst_copy") -%}
            select customer_ml_publish('{{ staging }}', '{{ published }}')
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}

{#- Whether the build ran a node whose relation analysts read or that appends records (schemas
    lineage, serving, monitoring and ml): a build of staging views or features alone publishes
    nothing new, so it spends nothing on a publication (its build record reaches analysts with
    the next one). -#}
{% macro analyst_relevant(results) -%}
    {%- set relevant = [] -%}
    {%- for result in results
        if result.node.resource_type in ('model', 'snapshot', 'seed')
        and result.node.schema in ('lineage', 'serving', 'monitoring', 'ml') -%}
        {%- do relevant.append(result.node.unique_id) -%}
    {%- endfor -%}
    {{ return(relevant | length > 0) }}
{%- endmacro %}

{#- (schema.table, table_type) of the analysts' schemas in `catalog` (a SQL expression). -#}
{% macro analyst_relations(catalog) -%}
    {{ return(run_query(
        "select table_schema || '.' || table_name, table_type from information_schema.tables "
        ~ "where table_catalog = " ~ catalog
        ~ " and table_schema in ('lineage', 'serving', 'monitoring') order by all")) }}
{%- endmacro %}

{#- The append-only relations the analyst copy updates by groups of a key (relation -> key): a
    group is replaced when its row count differs from the published one. -#}
{% macro analyst_appended() -%}
    {{ return({'lineage.predictions': 'invocation_id', 'lineage.sealed_rows': 'seal_seq',
               'serving.fct_prediction_inputs': 'invocation_id'}) }}
{%- endmacro %}

{#- The views the analyst copy keeps as views: each reads only relations of the copy. -#}
{% macro analyst_views() -%}
    {{ return(['lineage.prediction_versions']) }}
{%- endmacro %}

{#- Whether `name` (schema.table) has the same columns in the warehouse and the staged copy. -#}
{% macro analyst_columns_match(name) -%}
    {%- set columns -%}
        string_agg(column_name || ' ' || data_type, ', ' order by ordinal_position)
    {%- endset -%}
    {%- set compared = run_query(
        "select (select " ~ columns ~ " from information_schema.columns where table_catalog = "
        ~ "current_database() and table_schema || '.' || table_name = '" ~ name ~ "') = "
        ~ "(select " ~ columns ~ " from information_schema.columns where table_catalog = "
        ~ "'analyst_copy' and table_schema || '.' || table_name = '" ~ name ~ "')"
    ).columns[0].values() -%}
    {{ return(compared[0] == true) }}
{%- endmacro %}

{#- Replace, in the staged copy, the groups of `key` whose row count differs from the
    warehouse's (null keys are one group). -#}
{% macro analyst_append_changed_groups(name, key) -%}
    {%- do run_query(
        "create or replace temp table _analyst_changed as "
        ~ "select coalesce(w." ~ key ~ ", c." ~ key ~ ") as " ~ key ~ " from "
        ~ "(select " ~ key ~ ", count(*) as n from " ~ name ~ " group by all) as w "
        ~ "full outer join (select " ~ key ~ ", count(*) as n from analyst_copy." ~ name
        ~ " group by all) as c on w." ~ key ~ " is not distinct from c." ~ key
        ~ " where w.n is distinct from c.n") -%}
    {%- set changed = "exists (select 1 from _analyst_changed as g where g." ~ key
        ~ " is not distinct from t." ~ key ~ ")" -%}
    {%- do run_query("delete from analyst_copy." ~ name ~ " as t where " ~ changed) -%}
    {%- do run_query("insert into analyst_copy." ~ name ~ " select * from " ~ name
        ~ " as t where " ~ changed) -%}
    {%- do run_query("drop table _analyst_changed") -%}
{%- endmacro %}

{#- The analyst copy explains itself: each relation and column of it carries its description
    from the project's YAML (models and the lineage sources) as a DuckDB comment, so
    `duckdb_tables()` / `duckdb_columns()` (or any client's schema browser) show it. One
    round trip for all of them. `wanted`: the relations copied (schema.table). -#}
{% macro analyst_comments(wanted) -%}
    {%- set statements = [] -%}
    {%- set present = run_query(
        "select table_schema || '.' || table_name || '.' || column_name from "
        ~ "information_schema.columns where table_catalog = 'analyst_copy'").columns[0].values() -%}
    {%- for node in graph.nodes.values() | list + graph.sources.values() | list
        if node.resource_type in ('model', 'source', 'seed') -%}
        {%- set names = [node.identifier or node.alias or node.name] -%}
        {%- if node.version is defined and node.version is not none
            and node.version == node.latest_version -%}
            {%- do names.append(node.name) -%}  {#- the latest version's view: serving.x -#}
        {%- endif -%}
        {%- for name in names if (node.schema ~ '.' ~ name) in wanted -%}
            {%- set relation = 'analyst_copy.' ~ node.schema ~ '.' ~ name -%}
            {%- set kind = 'view' if (node.schema ~ '.' ~ name) in analyst_views() else 'table' -%}
            {%- if node.description -%}
                {%- do statements.append("comment on " ~ kind ~ " " ~ relation ~ " is '"
                    ~ (node.description | trim | replace("'", "''")) ~ "'") -%}
            {%- endif -%}
            {%- for column in node.columns.values() if column.description
                and (node.schema ~ '.' ~ name ~ '.' ~ column.name) in present -%}
                {%- do statements.append("comment on column " ~ relation ~ '."' ~ column.name
                    ~ "\" is '" ~ (column.description | trim | replace("'", "''")) ~ "'") -%}
            {%- endfor -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- if statements -%}
        {%- do run_query(statements | join(';\n')) -%}
    {%- endif -%}
{%- endmacro %}

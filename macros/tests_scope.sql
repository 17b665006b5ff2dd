{#- What a data test reads (dbt calls this for every generic test's `model`; it replaces dbt's
    own get_where_subquery, whose `where` config it keeps). In a `dbt build` that builds a
    partitioned derived model (partition_key_of: features, labels, CLV transactions), the
    model's tests check the partitions this build wrote (its lineage.partition_hashes records),
    not every partition ever written: each partition is tested by the build that writes it, and
    a partition is written only whole, so a build's tests grow with what it changed, not with
    history. Every other case tests the whole relation: `dbt test`, a build that did not build
    the model, and a full build (it writes, and records, every partition). -#}
{% macro get_where_subquery(relation) -%}
    {%- set conditions = [] -%}
    {%- if config.get('where') -%}
        {%- do conditions.append(config.get('where')) -%}
    {%- endif -%}
    {%- set written = partitions_written_by_this_build(relation) -%}
    {%- if written -%}
        {%- do conditions.append(written) -%}
    {%- endif -%}
    {%- set source_relation = relation -%}
    {%- set loaded = rows_loaded_since_this_test_passed(relation) -%}
    {%- if loaded -%}
        {%- set source_relation = loaded -%}
    {%- endif -%}
    {%- if conditions or loaded -%}
        {%- do return(
            '(select * from ' ~ source_relation ~ ' where (' ~ (conditions or ['true']) | join(') and (')
            ~ ')) dbt_subquery') -%}
    {%- endif -%}
    {%- do return(relation) -%}
{%- endmacro %}

{#- SQL relation: in a `dbt build`, what a test on a relation of loaded rows (one with
    `_loaded_at`: the staging views over raw, the known-as-of facts) must read to check the rows
    loaded since the last build in which this test passed. A test of keys (unique,
    unique_combination_of_columns) reads every row, old or new, whose key a new row has: the new
    keys are checked against all history, through a semi join, not a group over history. Any
    other test reads the new rows (its check is per row). None when the test ran in no finished
    build yet, outside `dbt build`, for a test that compares rows with each other otherwise than
    by key (validity ranges: row_or_key_tests lists the tests scoped), or on another relation:
    then everything is tested, as
    `dbt test` (the weekly schedule) always does. Rows written into raw by hand with an old
    `_loaded_at` are therefore found by `dbt test`, not by the daily build. -#}
{% macro rows_loaded_since_this_test_passed(relation) -%}
    {%- if not execute or flags.WHICH != 'build' or relation.identifier is not defined
        or model.resource_type != 'test' or not model.test_metadata
        or model.test_metadata.name not in row_or_key_tests() -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set columns = adapter.get_columns_in_relation(relation) | map(attribute='name') | list -%}
    {%- if '_loaded_at' not in columns -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set builds = api.Relation.create(
        database=relation.database, schema='lineage', identifier='builds') -%}
    {%- set last_pass -%}
        select max(run_started_at) from {{ builds }} as b
        -- a text search first: the JSON of only the builds that ran this test is parsed
        where contains(cast(b.results as varchar), '{{ model.unique_id }}')
        and exists (
            select 1
            from (
                select unnest(
                    from_json(b.results, '[{"unique_id": "VARCHAR", "status": "VARCHAR"}]'),
                    recursive := true
                )
            ) as n
            where n.unique_id = '{{ model.unique_id }}' and n.status = 'pass'
        )
    {%- endset -%}
    {%- set passed = run_query(last_pass).columns[0].values()[0] -%}
    {%- if passed is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set new_rows = "_loaded_at > timestamp '" ~ passed ~ "'" -%}
    {%- set kwargs = model.test_metadata.kwargs -%}
    {%- set keys = kwargs.get('combination') or ([kwargs.get('column_name')] if
        model.test_metadata.name == 'unique' else []) -%}
    {%- if keys -%}
        {%- set on = [] -%}
        {%- for key in keys -%}
            {%- do on.append('t.' ~ key ~ ' is not distinct from n.' ~ key) -%}
        {%- endfor -%}
        {{ return('(select t.* from ' ~ relation ~ ' as t semi join (select distinct '
            ~ keys | join(', ') ~ ' from ' ~ relation ~ ' where ' ~ new_rows ~ ') as n on '
            ~ on | join(' and ') ~ ')') }}
    {%- endif -%}
    {{ return('(select * from ' ~ relation ~ ' where ' ~ new_rows ~ ')') }}
{%- endmacro %}

{#- SQL condition: the row's partition was written by this `dbt build`, when `relation` is a
    partitioned derived model this build selected; else none. -#}
{% macro partitions_written_by_this_build(relation) -%}
    {%- if not execute or flags.WHICH != 'build' or relation.identifier is not defined -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set key = partition_key_of(relation) -%}
    {%- if key is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- if model_node_of(relation).unique_id not in selected_resources -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set records = api.Relation.create(
        database=relation.database, schema='lineage', identifier='partition_hashes') -%}
    {{ return(
        'cast(' ~ key ~ ' as varchar) in (select partition_key from ' ~ records
        ~ " where invocation_id = '" ~ invocation_id ~ "' and relation_name = '"
        ~ relation.schema ~ '.' ~ relation.identifier ~ "')") }}
{%- endmacro %}

{#- The generic tests whose check is per row, or per key: what rows_loaded_since_this_test_passed
    may scope to new rows (and, for keys, the rows sharing their keys). -#}
{% macro row_or_key_tests() -%}
    {{ return(['unique', 'unique_combination_of_columns', 'not_null', 'accepted_values',
               'relationships']) }}
{%- endmacro %}

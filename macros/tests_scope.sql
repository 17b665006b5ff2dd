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
    {%- if conditions -%}
        {%- do return(
            '(select * from ' ~ relation ~ ' where (' ~ conditions | join(') and (')
            ~ ')) dbt_subquery') -%}
    {%- endif -%}
    {%- do return(relation) -%}
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

{#- Partitioned derived models (features, labels, CLV transactions): which column partitions a
    model, and the per-partition content hashes its post-hook records in lineage.partition_hashes. -#}

{#- The partition column of `relation` when an incremental model builds it partition by
    partition (as_of_incremental(): delete+insert on its unique_key) and registers its own data
    snapshot in a post-hook (so every partition it writes is hashed when written), from the
    project's graph; else none. -#}
{% macro partition_key_of(relation) -%}
    {%- set node = model_node_of(relation) -%}
    {%- set found = [] -%}
    {%- if node is not none
        and node.config.get('materialized') == 'incremental'
        and node.config.get('incremental_strategy') == 'delete+insert'
        and node.config.get('unique_key') is string -%}
        {%- for hook in node.config.get('post-hook', []) -%}
            {%- if "register_data_snapshot(this," in (hook.sql or '') -%}
                {%- do found.append(node.config.get('unique_key')) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(found[0] if found else none) }}
{%- endmacro %}

{#- The project's model node that builds `relation`, from the graph; none when there is none
    (or at parse time). -#}
{% macro model_node_of(relation) -%}
    {%- for node in (graph.nodes.values() if execute else []) -%}
        {%- if node.resource_type == 'model' and node.schema == relation.schema
            and (node.alias or node.name) == relation.identifier -%}
            {{ return(node) }}
        {%- endif -%}
    {%- endfor -%}
    {{ return(none) }}
{%- endmacro %}

{#- The hash of each partition of a partitioned derived model (partition_key_of), appended to
    lineage.partition_hashes: in the model's own post-hook, the partitions this build wrote
    (those of dbt's temporary relation of the increment; every partition when the model was
    built whole); anywhere, the partitions that have no record yet (a warehouse from before
    these records). Such a model writes a partition only whole and only in a build that records
    it, so its content hash is the sum of its partitions' latest records
    (partitions_content_hash): a build hashes what it wrote, not all history.

    Arguments:
        relation (Relation): the model's relation
        key (string): its partition column
-#}
{% macro record_partition_hashes(relation, key) -%}
    {%- set relation_name = relation.schema ~ '.' ~ relation.identifier -%}
    {%- set recorded = "(select partition_key from " ~ source('lineage', 'partition_hashes')
        ~ " where relation_name = '" ~ relation_name ~ "')" -%}
    {%- set where = ["cast(" ~ key ~ " as varchar) not in " ~ recorded] -%}
    {%- if execute and relation_name == this.schema ~ '.' ~ this.identifier -%}
        {#- dbt-duckdb's incremental materialization builds the increment in a temporary table
            named after the model (`<identifier>__dbt_tmp<time>`), kept for the connection's
            life; none exists when the model was built whole. -#}
        {%- set increments = run_query(
            "select table_name from duckdb_tables() where temporary and starts_with(table_name, '"
            ~ this.identifier ~ "__dbt_tmp')"
        ).rows -%}
        {%- if increments | length == 0 -%}
            {%- do where.append('true') -%}
        {%- endif -%}
        {%- for row in increments -%}
            {%- do where.append(
                key ~ ' in (select ' ~ key ~ ' from temp.main."' ~ row[0] ~ '")') -%}
        {%- endfor -%}
    {%- endif -%}
    insert into {{ source('lineage', 'partition_hashes') }}
        (invocation_id, relation_name, partition_key, row_count, content_sum, recorded_at)
    select '{{ invocation_id }}', '{{ relation_name }}', cast(hash_key as varchar), row_count,
        cast(content_sum as varchar), now()
    from (
        {{ content_hash_by(relation, data_snapshot_columns(relation, 'derived'), key,
            '(' ~ where | join(') or (') ~ ')') }}
    ) as partitions
{%- endmacro %}

{#- SQL: row_count and content_hash of a partitioned derived model, summed from the latest
    record of each of its partitions (record_partition_hashes); equal to content_hash over the
    whole relation. Arguments as record_partition_hashes. -#}
{% macro partitions_content_hash(relation, key) -%}
    select
        cast(coalesce(sum(row_count), 0) as bigint) as row_count,
        cast(coalesce(sum(cast(content_sum as hugeint)), 0) as varchar) as content_hash
    from (
        select
            partition_key,
            row_count,
            content_sum,
            row_number() over (partition by partition_key order by recorded_at desc) as recency
        from {{ source('lineage', 'partition_hashes') }}
        where relation_name = '{{ relation.schema ~ '.' ~ relation.identifier }}'
    ) as latest
    where
        recency = 1
        and partition_key in (select distinct cast({{ key }} as varchar) from {{ relation }})
{%- endmacro %}

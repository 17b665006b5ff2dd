{#- Data snapshots (docs/design.md invariant 2): which rows a snapshot covers, which columns it
    hashes, and registering one in lineage.data_snapshots (append-only). -#}

{#- Which rows a data snapshot of `kind` covers, as a key: the snapshot at watermark W covers
    the rows whose key is at most W. 'fact' (append-only): `_loaded_at`; 'dimension' (a dbt
    snapshot): loaded and valid from on or before W, so the later of the two (null when either
    is). 'derived' (rebuilt by every build) covers all rows: no key. -#}
{% macro data_snapshot_key(kind) -%}
    {%- if kind == 'fact' -%}
        _loaded_at
    {%- elif kind == 'dimension' -%}
        case when _loaded_at is not null and dbt_valid_from is not null
            then greatest(_loaded_at, dbt_valid_from) end
    {%- else -%}
        {{ exceptions.raise_compiler_error("data snapshot: unknown kind " ~ kind) }}
    {%- endif -%}
{%- endmacro %}

{#- The columns a data snapshot of `kind` hashes, in table order: a fact's load columns and a
    dimension's `dbt_valid_to` (later builds close rows by design) are left out. -#}
{% macro data_snapshot_columns(relation, kind) -%}
    {%- set left_out = {'fact': ['_loaded_at', '_load_id'], 'dimension': ['dbt_valid_to']}.get(kind, []) -%}
    {%- set columns = [] -%}
    {#- run_query, not adapter.get_columns_in_relation: that one opens a transaction, which a
        training node's failure would then roll back with the failure's own records. -#}
    {%- if execute -%}
        {%- for row in run_query("select column_name from (describe " ~ relation ~ ")").rows -%}
            {%- if row[0] not in left_out -%}
                {%- do columns.append(row[0]) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(columns) }}
{%- endmacro %}

{#- Register an immutable data snapshot of `relation` (docs/design.md invariant 2) and link it to this
    build. The id derives from relation, watermark, row count and content hash, so the same
    content at the same watermark keeps its id and is recorded once.

    Arguments:
        relation (Relation): the relation read by training or scoring (a post-hook of the
            model that builds it, and a pre-hook of each training and scoring node reading it)
        kind (string): 'fact', 'dimension' or 'derived' (see data_snapshot_key); the watermark
            is the latest `_loaded_at` of the relation (of raw orders for derived tables). A
            derived partitioned model (features, labels, CLV transactions: partition_key_of) is
            hashed as the sum of its partitions' records (record_partition_hashes), other derived
            tables whole
-#}
{% macro register_data_snapshot(relation, kind) -%}
    {%- set relation_name = relation.schema ~ '.' ~ relation.identifier -%}
    {#- Registered already in this build (by the node that built it, or another reader of it):
        nothing changed it since, so it is not hashed again. -#}
    {%- if execute and run_query(
        "select 1 from lineage.build_snapshots where invocation_id = '" ~ invocation_id
        ~ "' and relation_name = '" ~ relation_name ~ "'"
    ).rows | length > 0 -%}
        {#- a statement without result rows: a hook's result is never fetched -#}
        drop table if exists _snapshot_candidate
    {%- else -%}
    {%- set watermark_of = source('shop', 'orders') if kind == 'derived' else relation -%}
    {%- set partition_key = partition_key_of(relation) if kind == 'derived' else none -%}
    {%- set watermark -%}(select max(_loaded_at) from {{ watermark_of }}){%- endset -%}
    {#- A fact snapshot is its predecessor (the latest registered at or before this watermark)
        plus the rows loaded since: the build hashes what it loaded, not all history. The
        predecessor is trusted as recorded; the verification (every build's
        assert_data_snapshots_verify, and `customer-ml verify-snapshots`) recomputes them all. -#}
    {%- set previous = none -%}
    {%- if kind == 'fact' and execute -%}
        {%- set found = run_query(
            "select cast(watermark as varchar), row_count, content_hash from lineage.data_snapshots"
            ~ " where relation_name = '" ~ relation_name ~ "' and snapshot_kind = 'fact'"
            ~ " and watermark <= " ~ watermark ~ " order by watermark desc limit 1"
        ) -%}
        {%- if found.rows | length > 0 -%}
            {%- set previous = found.rows[0] -%}
        {%- endif -%}
    {%- endif -%}
    {%- if partition_key %}
    {{ record_partition_hashes(relation, partition_key) }};
    {%- endif %}
    create or replace temp table _snapshot_candidate as
    with

    content as (
        {%- if partition_key %}
        {{ partitions_content_hash(relation, partition_key) }}
        {%- elif kind == 'derived' %}
        {{ content_hash('select * from ' ~ relation) }}
        {%- else %}
        {%- set key = data_snapshot_key(kind) -%}
        {%- set since = key ~ " > cast('" ~ previous[0] ~ "' as timestamp) and " if previous else "" %}
        select
            {{ previous[1] if previous else 0 }} + coalesce(sum(row_count), 0) as row_count,
            cast(
                cast('{{ previous[2] if previous else 0 }}' as hugeint)
                + coalesce(sum(content_sum), 0) as varchar
            ) as content_hash
        from (
            {{ content_hash_by(relation, data_snapshot_columns(relation, kind), key,
                since ~ key ~ " <= " ~ watermark) }}
        ) as loads
        {%- endif %}
    ),

    final as (
        select
            md5(concat_ws(
                '|', '{{ relation_name }}', coalesce(cast({{ watermark }} as varchar), ''),
                cast(content.row_count as varchar), content.content_hash
            )) as snapshot_id,
            '{{ relation_name }}' as relation_name,
            '{{ kind }}' as snapshot_kind,
            content.content_hash,
            content.row_count,
            {{ watermark }} as watermark
        from content
    )

    select * from final;
    insert into lineage.data_snapshots
    select
        snapshot_id, relation_name, snapshot_kind, content_hash, row_count, watermark,
        now(), '{{ invocation_id }}'
    from _snapshot_candidate
    where snapshot_id not in (select snapshot_id from lineage.data_snapshots);
    insert into lineage.build_snapshots
    select '{{ invocation_id }}', snapshot_id, relation_name, now()
    from _snapshot_candidate
    where snapshot_id not in (
        select snapshot_id from lineage.build_snapshots where invocation_id = '{{ invocation_id }}'
    );
    drop table _snapshot_candidate
    {%- endif -%}
{%- endmacro %}

{#- Verifying data snapshots: every live snapshot's content hash recomputed against the warehouse
    as it is now (`customer-ml verify-snapshots`). -#}

{#- A select of every live data snapshot whose history no longer matches its record: each fact
    and dimension snapshot that a training run or prediction references, recomputed from the
    warehouse as it is now. Empty when history is intact. One scan per relation, whatever the
    number of its snapshots (content_hash_by: the hashes per load, summed up to each
    watermark). Derived snapshots are rebuilt by every build; `customer-ml reproduce` checks them
    by rebuilding at the watermark. -#}
{% macro data_snapshot_mismatches() -%}
    {%- set checks = [] -%}
    {%- if execute -%}
        {#- What references snapshots: training runs, predictions and builds (those of the
            lineage views that exist yet: a first build whose training failed has none). -#}
        {%- set references = ["select snapshot_id from lineage.build_snapshots"] -%}
        {%- if adapter.get_relation(target.database, 'lineage', 'training_runs') -%}
            {%- do references.append(
                "select cast(snapshot_ids as json) ->> unnest(json_keys(cast(snapshot_ids as json)))"
                ~ " from lineage.training_runs") -%}
        {%- endif -%}
        {%- if adapter.get_relation(target.database, 'lineage', 'predictions') -%}
            {%- do references.append("select snapshot_id from lineage.predictions") -%}
        {%- endif -%}
        {%- set live_snapshots -%}
            select snapshot_id, relation_name, snapshot_kind, content_hash, row_count, watermark
            from lineage.data_snapshots
            where
                snapshot_id in ({{ references | join(' union ') }})
                and snapshot_kind in ('fact', 'dimension')
                {#- not those this invocation registered: it hashed them from the rows as they
                    are, under the warehouse's one writer lock, so hashing them again finds the
                    same (a first build from raw spent a minute doing so at 1M customers); the
                    next invocation verifies them -#}
                and invocation_id != '{{ invocation_id }}'
        {%- endset -%}
        {%- set relations = run_query(
            "select distinct relation_name, snapshot_kind from (" ~ live_snapshots ~ ") order by 1"
        ) -%}
        {%- for row in relations.rows -%}
            {%- set parts = row[0].split('.') -%}
            {%- set relation = adapter.get_relation(
                database=target.database, schema=parts[0], identifier=parts[1]) -%}
            {%- set live -%}
                select * from ({{ live_snapshots }}) where relation_name = '{{ row[0] }}'
                    and snapshot_kind = '{{ row[1] }}'
            {%- endset -%}
            {%- if relation is none -%}
                {%- do checks.append(
                    "select snapshot_id, relation_name, 'relation is missing' as problem from ("
                    ~ live ~ ")") -%}
            {%- else -%}
                {#- An empty relation has no watermark: it covers no rows, then and now. -#}
                {%- do checks.append(
                    "select s.snapshot_id, s.relation_name, 'at watermark ' || "
                    ~ "coalesce(cast(s.watermark as varchar), 'none') || ': recorded ' || "
                    ~ "s.row_count || ' rows, hash ' || s.content_hash || '; now ' || "
                    ~ "coalesce(sum(h.row_count), 0) || ' rows, hash ' || "
                    ~ "cast(coalesce(sum(h.content_sum), 0) as varchar) as problem "
                    ~ "from (" ~ live ~ ") as s left join ("
                    ~ content_hash_by(relation, data_snapshot_columns(relation, row[1]),
                        data_snapshot_key(row[1]))
                    ~ ") as h on h.hash_key <= s.watermark "
                    ~ "group by s.snapshot_id, s.relation_name, s.watermark, s.row_count, "
                    ~ "s.content_hash having coalesce(sum(h.row_count), 0) != s.row_count or "
                    ~ "cast(coalesce(sum(h.content_sum), 0) as varchar) != s.content_hash"
                ) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {%- if checks -%}
        {{ checks | join('\nunion all\n') }}
    {%- else -%}
        select
            cast(null as varchar) as snapshot_id,
            cast(null as varchar) as relation_name,
            cast(null as varchar) as problem
        where false
    {%- endif -%}
{%- endmacro %}

{#- `dbt run-operation verify_data_snapshots`: one line per altered snapshot and a summary;
    fails (exit status 1) when any history was altered. Used by `customer-ml verify-snapshots`. -#}
{% macro verify_data_snapshots() -%}
    {%- set checked = run_query(
        "select count(*) from lineage.data_snapshots where snapshot_kind in ('fact', 'dimension')"
    ).rows[0][0] -%}
    {%- set result = run_query(data_snapshot_mismatches()) -%}
    {%- for row in result.rows -%}
        {%- do log('ALTERED snapshot ' ~ row[0] ~ ' of ' ~ row[1] ~ ': ' ~ row[2], info=True) -%}
    {%- endfor -%}
    {%- if result.rows | length > 0 -%}
        {{ exceptions.raise_compiler_error(
            (result.rows | length) ~ ' data snapshot(s) no longer match their record: history '
            ~ 'was altered behind the pipeline (see the lines above)') }}
    {%- endif -%}
    {%- do log('verified: every live fact and dimension snapshot matches its record ('
        ~ checked ~ ' registered)', info=True) -%}
{%- endmacro %}

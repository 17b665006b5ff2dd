{#- Append-only lineage records (DESIGN.md "Records"). These tables are written by hooks, the
    CLI and the dbt plugin, never updated or deleted; dbt models in models/lineage/ read them. -#}

{#- Create the lineage tables when missing. Runs on-run-start. -#}
{% macro create_lineage_tables() -%}
    create schema if not exists lineage;
    create table if not exists lineage.invocations (
        invocation_id varchar,
        target_name varchar,
        dbt_version varchar,
        run_started_at timestamp,
        recorded_at timestamp
    );
    create table if not exists lineage.builds (
        invocation_id varchar,
        target_name varchar,
        git_commit varchar,
        mlflow_run_id varchar,
        snapshot_ids varchar,
        nodes_succeeded integer,
        nodes_failed integer,
        nodes_skipped integer,
        tests_passed integer,
        tests_failed integer,
        is_dirty boolean,
        run_started_at timestamp,
        finished_at timestamp,
        results json
    );
    create table if not exists lineage.data_snapshots (
        snapshot_id varchar,
        relation_name varchar,
        snapshot_kind varchar,
        content_hash varchar,
        row_count bigint,
        watermark timestamp,
        registered_at timestamp,
        invocation_id varchar
    );
    create table if not exists lineage.build_snapshots (
        invocation_id varchar,
        snapshot_id varchar,
        relation_name varchar,
        registered_at timestamp
    );
    create table if not exists lineage.promotions (
        promotion_id varchar,
        model_name varchar,
        training_run_id varchar,
        model_version varchar,
        action varchar,
        actor varchar,
        promoted_at timestamp
    )
{%- endmacro %}

{#- Record this invocation so Python models (which cannot use Jinja) can read its id. -#}
{% macro record_invocation() -%}
    insert into lineage.invocations
    values (
        '{{ invocation_id }}',
        '{{ target.name }}',
        '{{ dbt_version }}',
        cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S") }}' as timestamp),
        now()
    )
{%- endmacro %}

{#- Register an immutable data snapshot of `relation` (DESIGN.md invariant 2) and link it to this
    build. The id derives from relation, watermark, row count and content hash, so the same
    content at the same watermark keeps its id and is recorded once.

    Arguments:
        relation (Relation): the relation read by training or scoring
        kind (string): 'fact' (append-only, `_loaded_at` <= watermark), 'dimension' (a dbt
            snapshot: rows valid from on or before the watermark, validity ends after it masked),
            'derived' (a table built from facts: all rows; watermark of raw orders)
-#}
{% macro register_data_snapshot(relation, kind) -%}
    {%- set relation_name = relation.schema ~ '.' ~ relation.identifier -%}
    {%- if kind == 'fact' -%}
        {%- set watermark -%}(select max(_loaded_at) from {{ relation }}){%- endset -%}
        {%- set rows -%}
            select * exclude (_loaded_at, _load_id) from {{ relation }}
            where _loaded_at <= {{ watermark }}
        {%- endset -%}
    {%- elif kind == 'dimension' -%}
        {%- set watermark -%}(select max(dbt_updated_at) from {{ relation }}){%- endset -%}
        {%- set rows -%}
            select
                * exclude (dbt_valid_to),
                case when dbt_valid_to <= {{ watermark }} then dbt_valid_to end as dbt_valid_to
            from {{ relation }}
            where dbt_updated_at <= {{ watermark }}
        {%- endset -%}
    {%- elif kind == 'derived' -%}
        {%- set watermark -%}(select max(_loaded_at) from {{ source('shop', 'orders') }}){%- endset -%}
        {%- set rows -%}select * from {{ relation }}{%- endset -%}
    {%- else -%}
        {{ exceptions.raise_compiler_error("register_data_snapshot: unknown kind " ~ kind) }}
    {%- endif -%}
    create or replace temp table _snapshot_candidate as
    with

    content as (
        {{ content_hash(rows) }}
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
{%- endmacro %}

{#- Record the build: one row in lineage.builds and, through the plugin's `log_build`, one MLflow
    run in experiment customer-ml/builds. Runs on-run-end. A parse error runs no hooks, so such a
    build is not recorded. -#}
{% macro record_build(results) -%}
    {%- if execute -%}
        {%- set nodes = [] -%}
        {%- for result in results -%}
            {%- do nodes.append({
                'unique_id': result.node.unique_id | string,
                'resource_type': result.node.resource_type | string,
                'status': result.status | string,
                'execution_time': result.execution_time | float,
                'failures': (result.failures or 0) | int,
                'message': (result.message or '') | string,
            }) -%}
        {%- endfor -%}
        {%- set payload = tojson({
            'invocation_id': invocation_id | string,
            'target_name': target.name | string,
            'run_started_at': run_started_at.strftime('%Y-%m-%d %H:%M:%S'),
            'nodes': nodes,
        }) -%}
        insert into lineage.builds
        with

        logged as (
            select cast(log_build(
                '{{ payload | replace("'", "''") }}',
                (
                    select coalesce(to_json(list(distinct snapshot_id order by snapshot_id)), '[]')
                    from lineage.build_snapshots
                    where invocation_id = '{{ invocation_id }}'
                )
            ) as json) as j
        )

        select
            j ->> 'invocation_id',
            j ->> 'target_name',
            j ->> 'git_commit',
            j ->> 'mlflow_run_id',
            j ->> 'snapshot_ids',
            cast(j ->> 'nodes_succeeded' as integer),
            cast(j ->> 'nodes_failed' as integer),
            cast(j ->> 'nodes_skipped' as integer),
            cast(j ->> 'tests_passed' as integer),
            cast(j ->> 'tests_failed' as integer),
            cast(j ->> 'is_dirty' as boolean),
            cast(j ->> 'run_started_at' as timestamp),
            now(),
            j -> 'nodes'
        from logged
    {%- endif -%}
{%- endmacro %}

{#- For a versioned model, keep a view named after the model (without the _vN suffix) pointing
    at its latest version, so consumers can read `serving.fct_customer_scores` while pinned
    consumers read `_v1`. Runs as a post-hook; a no-op for other versions. -#}
{% macro create_latest_version_view() -%}
    {%- if model.version is not none and model.version == model.latest_version -%}
        create or replace view {{ this.schema }}.{{ model.name }} as select * from {{ this }}
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}

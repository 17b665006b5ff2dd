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
    alter table lineage.invocations add column if not exists vars_json varchar;
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
    create table if not exists lineage.model_definitions (
        invocation_id varchar,
        relation_name varchar,
        code_hash varchar,
        definition_hash varchar,
        recorded_at timestamp
    );
    create table if not exists lineage.promotion_requests (
        request_id varchar,
        model_name varchar,
        training_run_id varchar,
        model_version varchar,
        request_kind varchar,
        requested_by varchar,
        required_roles varchar,
        gates json,
        requested_at timestamp
    );
    create table if not exists lineage.approvals (
        request_id varchar,
        decision varchar,
        approver_role varchar,
        approver varchar,
        reason varchar,
        decided_at timestamp
    );
    create table if not exists lineage.baseline_runs (
        training_run_id varchar,
        model_name varchar,
        model_version varchar,
        run_type varchar,
        status varchar,
        code_hash varchar,
        git_commit varchar,
        is_dirty boolean,
        lock_hash varchar,
        invocation_id varchar,
        registered_at timestamp
    );
    create table if not exists lineage.serving_decisions (
        invocation_id varchar,
        model_name varchar,
        model_kind varchar,
        model_version varchar,
        training_run_id varchar,
        decided_at timestamp
    );
    create table if not exists lineage.alerts (
        alert_id varchar,
        model_name varchar,
        alert_kind varchar,
        severity varchar,
        invocation_id varchar,
        message varchar,
        raised_at timestamp
    );
    create table if not exists lineage.training_failures (
        model_name varchar,
        invocation_id varchar,
        run_type varchar,
        status varchar,
        error varchar,
        failed_at timestamp
    );
    create table if not exists lineage.rca_notes (
        model_name varchar,
        note varchar,
        author varchar,
        noted_at timestamp
    );
    create table if not exists lineage.promotions (
        promotion_id varchar,
        model_name varchar,
        training_run_id varchar,
        model_version varchar,
        action varchar,
        actor varchar,
        promoted_at timestamp,
        request_id varchar
    );
    alter table lineage.promotions add column if not exists request_id varchar
{%- endmacro %}

{#- Record this invocation so Python models (which cannot use Jinja) can read its id, with the
    vars given on the command line (the rest are the project's defaults at its commit), so a
    build can be replayed exactly. -#}
{% macro record_invocation() -%}
    {%- set cli_vars = invocation_args_dict.get('vars') or {} -%}
    {%- if cli_vars is string -%}
        {%- set cli_vars = fromyaml(cli_vars) or {} -%}
    {%- endif -%}
    insert into lineage.invocations (
        invocation_id, target_name, dbt_version, run_started_at, recorded_at, vars_json
    )
    values (
        '{{ invocation_id }}',
        '{{ target.name }}',
        '{{ dbt_version }}',
        cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S") }}' as timestamp),
        now(),
        '{{ tojson(cli_vars) | replace("'", "''") }}'
    )
{%- endmacro %}

{#- The rows a data snapshot covers, as a select: what its content hash is computed over, at
    registration and again at verification.

    Arguments:
        relation (Relation or string): the relation
        kind (string): 'fact' (append-only: rows with `_loaded_at` <= watermark, load columns
            left out), 'dimension' (a dbt snapshot: rows loaded and valid from on or before the
            watermark; `dbt_valid_to` left out, since later builds close rows by design),
            'derived' (a table rebuilt by every build: all rows)
        watermark (string): SQL expression of the watermark
-#}
{% macro data_snapshot_rows(relation, kind, watermark) -%}
    {%- if kind == 'fact' -%}
        select * exclude (_loaded_at, _load_id) from {{ relation }}
        where _loaded_at <= {{ watermark }}
    {%- elif kind == 'dimension' -%}
        select * exclude (dbt_valid_to) from {{ relation }}
        where _loaded_at <= {{ watermark }} and dbt_valid_from <= {{ watermark }}
    {%- elif kind == 'derived' -%}
        select * from {{ relation }}
    {%- else -%}
        {{ exceptions.raise_compiler_error("data snapshot: unknown kind " ~ kind) }}
    {%- endif -%}
{%- endmacro %}

{#- Register an immutable data snapshot of `relation` (DESIGN.md invariant 2) and link it to this
    build. The id derives from relation, watermark, row count and content hash, so the same
    content at the same watermark keeps its id and is recorded once.

    Arguments:
        relation (Relation): the relation read by training or scoring
        kind (string): 'fact', 'dimension' or 'derived' (see data_snapshot_rows); the watermark
            is the latest `_loaded_at` of the relation (of raw orders for derived tables)
-#}
{% macro register_data_snapshot(relation, kind) -%}
    {%- set relation_name = relation.schema ~ '.' ~ relation.identifier -%}
    {%- set watermark_of = source('shop', 'orders') if kind == 'derived' else relation -%}
    {%- set watermark -%}(select max(_loaded_at) from {{ watermark_of }}){%- endset -%}
    create or replace temp table _snapshot_candidate as
    with

    content as (
        {{ content_hash(data_snapshot_rows(relation, kind, watermark)) }}
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

{#- A select of every live data snapshot whose history no longer matches its record: each fact
    and dimension snapshot that a training run or prediction references, recomputed from the
    warehouse as it is now. Empty when history is intact. Derived snapshots are rebuilt by every
    build; `customer-ml reproduce` checks them by rebuilding at the watermark. -#}
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
        {%- set live_query -%}
            select snapshot_id, relation_name, snapshot_kind, content_hash, row_count,
                cast(watermark as varchar)
            from lineage.data_snapshots
            where
                snapshot_id in ({{ references | join(' union ') }})
                and snapshot_kind in ('fact', 'dimension')
            order by relation_name, watermark
        {%- endset -%}
        {%- set live = run_query(live_query) -%}
        {%- for row in live.rows -%}
            {%- set parts = row[1].split('.') -%}
            {%- set relation = adapter.get_relation(
                database=target.database, schema=parts[0], identifier=parts[1]) -%}
            {#- An empty relation has no watermark: it covers no rows, then and now. -#}
            {%- set watermark = "cast(null as timestamp)" if row[5] is none
                else "cast('" ~ row[5] ~ "' as timestamp)" -%}
            {%- if relation is none -%}
                {%- do checks.append(
                    "select '" ~ row[0] ~ "' as snapshot_id, '" ~ row[1] ~ "' as relation_name, "
                    ~ "'relation is missing' as problem"
                ) -%}
            {%- else -%}
                {%- do checks.append(
                    "select '" ~ row[0] ~ "' as snapshot_id, '" ~ row[1] ~ "' as relation_name, "
                    ~ "'at watermark " ~ row[5] ~ ": recorded ' || '" ~ row[4] ~ " rows, hash "
                    ~ row[3] ~ "; now ' || row_count || ' rows, hash ' || content_hash"
                    ~ " as problem from (" ~ content_hash(
                        data_snapshot_rows(relation, row[2], watermark)) ~ ") as actual"
                    ~ " where actual.content_hash != '" ~ row[3] ~ "' or actual.row_count != "
                    ~ row[4]
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

{#- Record the definition hash of the model just built (DESIGN.md invariant 3): the md5 of its
    compiled code combined with the definition hashes of its upstream models in this build, a
    Merkle hash over the DAG. Any change to the SQL of a model or of anything upstream of it
    (including rendered vars and macros) changes it. Runs as a post-hook on every model. -#}
{% macro record_definition() -%}
    {#- The database name is the target's file name: left out, so targets agree. -#}
    {%- set code = (model.compiled_code or model.raw_code or '')
        | replace('"' ~ target.database ~ '".', '') -%}
    {%- set own = local_md5(code) -%}
    {%- set upstream = [] -%}
    {%- for unique_id in model.depends_on.nodes | sort -%}
        {%- set node = graph.nodes.get(unique_id) or graph.sources.get(unique_id) -%}
        {%- if node -%}
            {%- do upstream.append(
                node.schema ~ '.' ~ (node.alias or node.identifier or node.name)
            ) -%}
        {%- endif -%}
    {%- endfor -%}
    insert into lineage.model_definitions
    select
        '{{ invocation_id }}',
        '{{ this.schema }}.{{ this.identifier }}',
        '{{ own }}',
        md5(concat_ws(
            '|',
            '{{ own }}',
            '{{ upstream | join(",") }}',
            coalesce((
                select string_agg(relation_name || ':' || definition_hash, ',' order by relation_name)
                from lineage.model_definitions
                where
                    invocation_id = '{{ invocation_id }}'
                    and relation_name in ('{{ upstream | join("', '") }}')
            ), '')
        )),
        now()
{%- endmacro %}

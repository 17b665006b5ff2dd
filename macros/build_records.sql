{#- The build's own records (docs/design.md "Records"): the invocation and its vars when it starts,
    lineage.builds and its MLflow run when it ends, the run type, which builds may serve, and the
    cleanup of dbt's temporary relations. The tables are declared once, in customer_ml.records.tables,
    and created from that declaration by the dbt plugin; hooks append, never update or delete. -#}

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
            'run_type': build_run_type(),
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
            j -> 'nodes',
            j ->> 'run_type',
            cast(j ->> 'clock_at' as timestamp)
        from logged
    {%- endif -%}
{%- endmacro %}

{#- The build's run type: 'experiment' on the experiment target or with --vars
    '{run_type: experiment}', else 'production'. Recorded on lineage.builds. -#}
{% macro build_run_type() -%}
    {{- 'experiment' if target.name == 'experiment' else var('run_type', 'production') -}}
{%- endmacro %}

{#- SQL: the builds whose predictions and serving decisions may be served (invariant: only what
    can be recreated is served). A build counts once it finished (a lineage.builds row; a killed
    build never does), from a clean tree (a dirty tree's commit does not name the code that
    scored) as a production run (experiment scoring is never served); the build running now
    counts on the same terms, its git state read when the model runs (customer_ml_tree_is_clean,
    the dbt plugin). -#}
{% macro servable_builds() -%}
    {{ finished_servable_builds() }}
    union all
    select {{ volatile("'" ~ invocation_id ~ "'") }} as invocation_id
    where {{ 'true' if build_run_type() == 'production' else 'false' }} and customer_ml_tree_is_clean()
{%- endmacro %}

{#- SQL: the finished builds of servable_builds alone, for views read outside a build (they
    cannot call the plugin's functions). -#}
{% macro finished_servable_builds() -%}
    select invocation_id from {{ source('lineage', 'builds') }}
    where not is_dirty and coalesce(run_type, 'production') = 'production'
{%- endmacro %}

{#- Drop dbt's temporary relations (`__dbt_tmp`, `__dbt_backup` tables and views): the ones
    dbt-duckdb's Python incremental models leave in `main` at the end of every build, and the
    ones a killed build left at the start of the next (no other build can be writing then:
    DuckDB allows one writer per file). -#}
{% macro drop_leftover_temporaries() -%}
    {%- if execute -%}
        {%- set leftovers = run_query(
            "select table_schema, table_name, table_type from information_schema.tables "
            ~ "where table_catalog = current_database() and (table_name like '%\\_\\_dbt\\_tmp%' "
            ~ "escape '\\' or table_name like '%\\_\\_dbt\\_backup%' escape '\\')"
        ) -%}
        {%- for row in leftovers.rows -%}
            {%- set kind = 'view' if row[2] == 'VIEW' else 'table' -%}
            {%- do run_query('drop ' ~ kind ~ ' if exists "' ~ row[0] ~ '"."' ~ row[1] ~ '"') -%}
        {%- endfor -%}
    {%- endif -%}
    select 1
{%- endmacro %}


{#- The build's exit status says what a scheduler must see: a training that failed or was
    terminated in this build, or a critical alert it raised (an escalation, a suppression, an
    unusable champion, a moved registry alias), fails the build here, as its last on-run-end
    hook, with one line naming each (training failures first, then the alerts). Training failures are recorded and alerted where they
    happen, never raised to dbt, so nothing downstream of a failed training node is skipped
    (the other models' monitoring, the lineage views, the integrity tests). -#}
{% macro fail_on_training_failures_and_critical_alerts() -%}
    select error('customer-ml: this build must not pass: '
        || string_agg(what, '; ' order by failures_first, what)) from (
        select
            1 as failures_first,
            'training ' || status || ' (' || model_name || '): ' || left(error, 200) as what
        from {{ source('lineage', 'training_failures') }}
        where invocation_id = '{{ invocation_id }}' and status in ('failed', 'terminated')
        union all
        select
            2 as failures_first,
            'critical alert ' || alert_kind || ' (' || coalesce(model_name, '-') || '): '
            || left(message, 200) as what
        from {{ source('lineage', 'alerts') }}
        where invocation_id = '{{ invocation_id }}' and severity = 'critical'
    )
    having count(*) > 0
{%- endmacro %}

{#- Append-only lineage records (docs/design.md "Records"). These tables are declared once, in
    customer_ml.record_tables, and created from that declaration by the dbt plugin when a build opens
    the warehouse; hooks, the CLI and the plugin append to them, never update or delete. -#}

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
            j ->> 'run_type'
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

{#- Mark SQL that selects which rows a build computes (not how they are computed), so the
    definition hash leaves it out (see record_definition). -#}
{% macro volatile(sql) -%}
    /* volatile: */ {{ sql }} /* :volatile */
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

{#- The model's compiled code as its definition (in a hook, where it is compiled): the database
    name is the target's file name, left out so targets agree; what `volatile()` marks (an
    incremental build's selection of what to recompute, the as_of grid's dates) says which rows
    a build computes, not how: left out, so a full and an incremental build of the same logic,
    and builds over other as_of ranges, agree; runs of white space count as one. Rendered vars
    and macros are in it. -#}
{% macro definition_code() -%}
    {%- if execute and not model.compiled_code -%}
        {{ exceptions.raise_compiler_error(
            "definition_code: " ~ model.unique_id ~ " is not compiled yet (call it from a hook)") }}
    {%- endif -%}
    {{- return(modules.re.sub('\\s+', ' ', modules.re.sub(
        '/[*] volatile: [*]/.*?/[*] :volatile [*]/', '',
        (model.compiled_code or '') | replace('"' ~ target.database ~ '".', ''),
        flags=modules.re.DOTALL)).strip()) -}}
{%- endmacro %}

{#- Record the definition hash of the model just built (docs/design.md invariant 3): the md5 of its
    compiled code combined with the latest recorded definition hashes of its upstream models, a
    Merkle hash over the DAG. Any change to the SQL of a model or of anything upstream of it
    (including rendered vars and macros) changes it. Runs as a post-hook on every model. -#}
{% macro record_definition() -%}
    {%- set own = local_md5(definition_code()) -%}
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
            -- each upstream model as it is in the warehouse: the definition its latest build
            -- recorded (this build's when it rebuilt it), so selecting a node alone records
            -- the same definition as a whole build
            coalesce((
                select string_agg(relation_name || ':' || definition_hash, ',' order by relation_name)
                from (
                    select
                        relation_name,
                        definition_hash,
                        row_number() over (
                            partition by relation_name order by recorded_at desc
                        ) as recency
                    from lineage.model_definitions
                    where relation_name in ('{{ upstream | join("', '") }}')
                ) as latest
                where recency = 1
            ), '')
        )),
        now()
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

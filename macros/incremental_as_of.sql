{#- Incremental models partitioned by as_of (facts, features, labels): a build recomputes only the
    as_of dates that are new or whose inputs changed, replacing those partitions whole
    (incremental_strategy delete+insert, unique_key as_of), and a full build computes them all.
    Proven equal to a full rebuild by tests/python/test_incremental.py.

    The state lives in lineage.incremental_state, not in the tables (their columns and content
    hashes stay what they were): per successful build of such a model, the latest `_loaded_at` of
    the raw-derived relations when it started (its watermark) and its definition (its own
    compiled code, rendered vars included, and its parents' definition hashes). Rows loaded after
    the watermark say from which as_of on the partitions are stale; a changed definition (a var
    such as a label horizon, a macro, a parent) empties the table first, so every partition is
    missing and recomputed: a table never mixes partitions of two definitions. -#}

{#- Config of an as_of-incremental model: call it at the top of the model. A model partitioned
    by another column (clv_transactions: by period, each known at its period end) names it as
    `unique_key` and selects the partitions to recompute itself. -#}
{% macro as_of_incremental(unique_key='as_of') -%}
    {{ config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=unique_key,
        on_schema_change='fail',
        pre_hook=[
            {'sql': "{{ as_of_watermark() }}", 'transaction': false},
            "{{ as_of_reset_on_new_definition() }}",
        ],
        post_hook=["{{ record_incremental_state() }}"],
    ) }}
{%- endmacro %}

{#- The raw-derived relations whose `_loaded_at` make the watermark. -#}
{% macro watermark_relations() -%}
    {{ return([
        ref('int_orders_known_as_of'),
        ref('int_customers_known_as_of'),
        ref('int_engagement_events_known_as_of'),
    ]) }}
{%- endmacro %}

{#- Pre-hook: the watermark when the model starts, kept for its post-hook. -#}
{% macro as_of_watermark() -%}
    create or replace temp table _as_of_watermark as
    select {{ loaded_through(watermark_relations()) }} as loaded_through
{%- endmacro %}

{#- Pre-hook, inside the model's transaction: when the definition differs from the one the
    table's partitions were computed with (its latest recorded state), delete every row, so the
    model recomputes every partition (recompute_from: the missing ones); a failed build rolls
    the deletion back. -#}
{% macro as_of_reset_on_new_definition() -%}
    {%- if is_incremental() -%}
        delete from {{ this }}
        where {{ incremental_state('definition') }} is distinct from {{ as_of_definition() }}
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}

{#- Post-hook (after success only): append this build's state of the model. -#}
{% macro record_incremental_state() -%}
    insert into {{ source('lineage', 'incremental_state') }}
        (invocation_id, relation_name, loaded_through, definition, recorded_at)
    select
        '{{ invocation_id }}',
        '{{ this.schema }}.{{ this.identifier }}',
        loaded_through,
        {{ as_of_definition() }},
        now()
    from _as_of_watermark
{%- endmacro %}

{#- SQL of the model's latest recorded state column `column` (null when none). -#}
{% macro incremental_state(column) -%}
    (
        select {{ column }} from (
            select
                {{ column }},
                row_number() over (order by recorded_at desc) as recency
            from {{ source('lineage', 'incremental_state') }}
            where relation_name = '{{ this.schema }}.{{ this.identifier }}'
        ) as states
        where recency = 1
    )
{%- endmacro %}

{#- SQL for this model's definition (in a hook): its compiled code (definition_code) and the
    latest recorded definition hash of each parent (lineage.model_definitions, Merkle hashes
    over everything upstream). -#}
{% macro as_of_definition() -%}
    {%- set parents = [] -%}
    {%- for unique_id in model.depends_on.nodes | sort -%}
        {%- set node = graph.nodes.get(unique_id) -%}
        {%- if node and node.resource_type in ('model', 'snapshot') -%}
            {%- do parents.append(node.schema ~ '.' ~ (node.alias or node.name)) -%}
        {%- endif -%}
    {%- endfor -%}
    md5({{ dbt.concat([
        "'" ~ local_md5(definition_code()) ~ "'",
        "'|'",
        "coalesce((select " ~ dbt.listagg(
            dbt.concat(["relation_name", "':'", "definition_hash"]), "','", "order by relation_name"
        ) ~ " from (select relation_name, definition_hash, row_number() over (partition by"
        ~ " relation_name order by recorded_at desc) as recency from "
        ~ source('lineage', 'model_definitions') ~ " where relation_name in ('"
        ~ parents | join("', '") ~ "')) as recorded where recency = 1), '')",
    ]) }})
{%- endmacro %}

{#- SQL for the first as_of to recompute (a date): on a full build, the grid's start; else the
    first as_of of the grid on or after the earliest day a row loaded since the last build
    affects, or the earliest as_of the table lacks (where `missing_where` holds; all of them
    when the definition changed, as_of_reset_on_new_definition).

    Arguments:
        inputs (list of [relation, affected_day]): relations with a `_loaded_at` column and the
            SQL of the first day one of their rows affects (e.g. `known_from`)
        missing_where (string): condition on `spine.as_of` for an as_of the table should have
-#}
{% macro recompute_from(inputs, missing_where='true') -%}
    {%- set grid = as_of_grid() -%}
    {#- referenced on every build, so dbt sees the dependencies the incremental branch has -#}
    {%- set spine = ref('int_customer_as_of_spine') -%}
    {%- set states = source('lineage', 'incremental_state') -%}
    {%- if is_incremental() -%}
        {%- call volatile_block() -%}
        (
            select
                case
                    when {{ incremental_state('loaded_through') }} is null
                        then {{ grid.start_unmarked }}
                    else least(
                        {%- for relation, affected_day in inputs %}
                            coalesce((
                                select {{ next_as_of('min(' ~ affected_day ~ ')') }}
                                from {{ relation }}
                                where _loaded_at > {{ incremental_state('loaded_through') }}
                            ), cast('9999-01-01' as date)),
                        {%- endfor %}
                        coalesce((
                            select min(spine.as_of)
                            from {{ spine }} as spine
                            where
                                {{ missing_where }}
                                and spine.as_of not in (select distinct as_of from {{ this }})
                        ), cast('9999-01-01' as date))
                    )
                end
        )
        {%- endcall -%}
    {%- else -%}
        {{ grid.start }}
    {%- endif -%}
{%- endmacro %}

{#- `volatile` for a block: {% call volatile_block() %} ... {% endcall %}. -#}
{% macro volatile_block() -%}
    {{ volatile(caller()) }}
{%- endmacro %}

{#- SQL for the latest `_loaded_at` among `relations`. -#}
{% macro loaded_through(relations) -%}
    greatest(
        {%- for relation in relations %}
            coalesce(
                (select max(_loaded_at) from {{ relation }}), cast('1900-01-01' as timestamp)
            ){{ ',' if not loop.last }}
        {%- endfor %}
    )
{%- endmacro %}

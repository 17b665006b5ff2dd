{#- Model definitions (docs/design.md invariant 3): the definition hash of every model built, what
    it leaves out (volatile SQL), and the latest-version view of a versioned model. -#}

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

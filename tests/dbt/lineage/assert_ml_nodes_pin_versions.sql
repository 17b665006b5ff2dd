{#- Fails when an ML node (datasets, python models, serving) refs a versioned model without a
    version: training and scoring must pin versions, never read "latest" (invariants 3, 4). -#}
{%- set versioned = [] -%}
{%- set problems = [] -%}
{%- if execute -%}
    {%- for node in graph.nodes.values() -%}
        {%- if node.resource_type == 'model' and node.version is not none -%}
            {%- do versioned.append(node.name) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- for node in graph.nodes.values() -%}
        {%- set is_ml_node = node.resource_type == 'model' and (
            node.language == 'python'
            or node.original_file_path.startswith('models/datasets/')
            or node.original_file_path.startswith('models/serving/')
        ) -%}
        {%- if is_ml_node -%}
            {%- for ref in node.refs -%}
                {%- if ref.name in versioned and ref.version is none -%}
                    {%- do problems.append(node.name ~ ' refs ' ~ ref.name ~ ' without a version') -%}
                {%- endif -%}
            {%- endfor -%}
        {%- endif -%}
    {%- endfor -%}
{%- endif -%}

{%- if problems %}
    {%- for problem in problems %}
select '{{ problem }}' as problem
        {%- if not loop.last %} union all{% endif %}
    {%- endfor %}
{%- else %}
select 'none' as problem
where false
{%- endif %}

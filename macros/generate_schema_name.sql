{#- Custom schemas are used as named (raw, staging, features, lineage, ...), not prefixed with the
    target schema: analysts query `lineage.builds` on every target, and each target has its own
    DuckDB file, so there is nothing to disambiguate. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}

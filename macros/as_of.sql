{#- The last day the data covers: var('data_through'), or the last order date when it is 'auto'.

    Arguments:
        orders_relation (string): the orders relation or CTE name to read when 'auto'
-#}
{% macro data_through(orders_relation) -%}
    {%- if var('data_through') == 'auto' -%}
        (select max(cast(ordered_at as date)) from {{ orders_relation }})
    {%- else -%}
        cast('{{ var("data_through") }}' as date)
    {%- endif -%}
{%- endmacro %}

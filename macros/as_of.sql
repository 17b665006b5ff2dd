{#- The last day the data covers: var('data_through'), or, when it is 'auto', the last order
    date, but never after the day the latest row was loaded: an order dated in the future cannot
    make a horizon count as observed (docs/design.md invariant 1).

    Arguments:
        orders_relation (string): the orders relation or CTE name to read when 'auto'
-#}
{% macro data_through(orders_relation) -%}
    {%- if var('data_through') == 'auto' -%}
        (
            select least(max(cast(ordered_at as date)), max(cast(_loaded_at as date)))
            from {{ orders_relation }}
        )
    {%- else -%}
        cast('{{ var("data_through") }}' as date)
    {%- endif -%}
{%- endmacro %}

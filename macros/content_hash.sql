{#- An order-independent content hash of a query's rows: the sum over rows of a 64-bit slice of
    each row's md5, with the row count. Equal multisets of rows give equal hashes whatever their
    order; md5 is stable across engines and versions, unlike engine `hash()` functions.

    Arguments:
        query (string): a select whose rows are hashed (every column counts)
-#}
{% macro content_hash(query) -%}
    {{ return(adapter.dispatch('content_hash', 'customer_ml')(query)) }}
{%- endmacro %}

{% macro duckdb__content_hash(query) -%}
    select
        count(*) as row_count,
        cast(coalesce(sum(md5_number_lower(cast(content_row as varchar))), 0) as varchar)
            as content_hash
    from ({{ query }}) as content_row
{%- endmacro %}

{% macro default__content_hash(query) -%}
    {{ exceptions.raise_compiler_error(
        "content_hash is implemented for duckdb only; add a " ~ adapter.type()
        ~ "__content_hash macro (sum of md5 slices per row) for this adapter") }}
{%- endmacro %}

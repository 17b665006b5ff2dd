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

{#- Content hashes of a relation's rows grouped by a key: one row per key value (hash_key) with
    its row_count and content_sum, the sum of the same per-row md5 slices as content_hash over the
    same columns (a struct of `columns`, in their table order, hashes as the whole row would).
    Summing the groups whose key is at most a watermark gives that watermark's content_hash, so
    every snapshot of a table is checked in one scan, and a new snapshot adds only what was
    loaded since the last one.

    Arguments:
        relation (Relation): the relation
        columns (list of strings): the columns hashed, in table order
        key (string): SQL expression the rows are grouped by
        where (string): SQL condition on the rows read
-#}
{% macro content_hash_by(relation, columns, key, where='true') -%}
    {{ return(adapter.dispatch('content_hash_by', 'customer_ml')(relation, columns, key, where)) }}
{%- endmacro %}

{% macro duckdb__content_hash_by(relation, columns, key, where) -%}
    {%- set fields = [] -%}
    {%- for column in columns -%}
        {%- do fields.append("'" ~ column ~ "': \"" ~ column ~ "\"") -%}
    {%- endfor -%}
    select
        {{ key }} as hash_key,
        count(*) as row_count,
        coalesce(sum(md5_number_lower(cast({{ '{' ~ fields | join(', ') ~ '}' }} as varchar))), 0)
            as content_sum
    from {{ relation }}
    where {{ where }}
    group by 1
{%- endmacro %}

{% macro default__content_hash_by(relation, columns, key, where) -%}
    {{ exceptions.raise_compiler_error(
        "content_hash_by is implemented for duckdb only; add a " ~ adapter.type()
        ~ "__content_hash_by macro for this adapter") }}
{%- endmacro %}

"""The `customer-ml` command: a thin layer over the parts, one module per part; nothing in the
package imports it."""

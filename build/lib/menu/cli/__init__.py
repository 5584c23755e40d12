"""Thin command-line entries: compose config, call library functions."""

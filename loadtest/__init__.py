"""Locust users and the benchmark runner."""

"""Reporting: turning results into tables, JSON, CSV and plots."""

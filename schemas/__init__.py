"""Pydantic models for every payload that crosses a process boundary."""

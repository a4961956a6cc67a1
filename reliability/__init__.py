"""Reliability suite: fault matrix, kill matrix, random fault schedules, DSL fuzz (`make reliability`)."""

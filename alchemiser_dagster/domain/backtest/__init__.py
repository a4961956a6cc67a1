"""Backtests: the same evaluator and the same planner as the daily graph, over many sessions."""

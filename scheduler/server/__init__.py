"""The scheduler process: gRPC servicers, state store, replanning loop and metrics.

Protobuf messages stop at the servicers (convert.py); everything behind them works on the
dataclasses of model.py, and the planner on its own (scheduler.planner.domain).
"""

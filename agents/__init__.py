"""The satellite agent: connection loop, plan executor and simulated bus."""

"""Process lifetime helpers shared by the scheduler, its solver workers and the agents."""

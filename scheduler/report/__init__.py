"""Reports drawn from what a run produced: the Gantt chart, the forecast overview, and the
recorder of what ran on a live cluster."""

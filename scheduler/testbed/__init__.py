"""Testbeds on one host: the container image, a containerized cluster (podman or docker) and
a network-namespace cluster whose links follow the contact forecast. Driven by
`orbitctl testbed ...` and `make image`; nothing here is imported by the scheduler or agents."""

"""A cluster on this machine and talking to it: the process launcher, the gRPC client and
the demo."""

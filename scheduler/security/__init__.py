"""Trust: X.509 identities from a project CA, principals, authorization, TLS credentials.

A leaf package (grpc, cryptography and the standard library only), imported by the server,
orbitctl and the agent alike.
"""

"""The orbital scheduler's gRPC/protobuf contract (generated code lives in `v1`)."""

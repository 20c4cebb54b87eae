"""Messages to agents as wire bytes, built once per message: a plan broadcast to thousands
of agents serialises each satellite's plan once, in the broadcast, and the contact windows
once per distinct list (the members of an ISL group share theirs); each stream's task then
writes bytes (the AgentService's response serializer passes bytes through).

Protobuf allows a message's fields in any order and in several pieces, so a Plan is its
own fields serialised, followed by its contacts serialised apart.
"""

from __future__ import annotations

import grpc
from orbitalsched.v1 import agent_pb2

from scheduler.server.convert import plan_entry_to_pb
from scheduler.server.messages import SatellitePlan

_PLAN_FIELD_TAG = b"\x12"  # SchedulerMessage.plan: field 2, length-delimited


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


class PlanEncoder:
    """SchedulerMessage(plan=...) bytes of many satellites' plans (one broadcast)."""

    def __init__(self) -> None:
        self._contacts: dict[tuple[tuple[float, float, float], ...], bytes] = {}

    def contacts(self, windows: tuple[tuple[float, float, float], ...]) -> bytes:
        data = self._contacts.get(windows)
        if data is None:
            data = self._contacts[windows] = agent_pb2.Plan(
                contacts=[
                    agent_pb2.Window(start_s=a, end_s=b, downlink_mbps=r) for a, b, r in windows
                ]
            ).SerializeToString()
        return data

    def encode(self, plan: SatellitePlan) -> bytes:
        """The same bytes as to_agent_pb(plan) would parse from (tests check it)."""
        head = agent_pb2.Plan(
            plan_version=plan.plan_version,
            satellite_id=plan.satellite_id,
            created_s=plan.created_s,
            horizon_end_s=plan.horizon_end_s,
            entries=[plan_entry_to_pb(e) for e in plan.entries],
            wall_queued_s=plan.wall_queued_s,
            wall_solved_s=plan.wall_solved_s,
        ).SerializeToString()
        body = head + self.contacts(plan.contacts)
        return _PLAN_FIELD_TAG + _varint(len(body)) + body


def serialize_to_agent(message: agent_pb2.SchedulerMessage | bytes) -> bytes:
    """The AgentService's response serializer: bytes built ahead go out as they are."""
    if isinstance(message, bytes):
        return message
    return message.SerializeToString()


def add_agent_service(servicer: object, server: grpc.aio.Server) -> None:
    """agent_pb2_grpc.add_AgentServiceServicer_to_server, with serialize_to_agent."""
    handlers = {
        "Connect": grpc.stream_stream_rpc_method_handler(
            servicer.Connect,  # type: ignore[attr-defined]
            request_deserializer=agent_pb2.AgentMessage.FromString,
            response_serializer=serialize_to_agent,
        )
    }
    name = "orbitalsched.v1.AgentService"
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(name, handlers),))
    server.add_registered_method_handlers(name, handlers)  # type: ignore[attr-defined]

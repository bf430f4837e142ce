"""The design the article replaces: keepalived's VRRP moves one VIP to the next balancer by priority, as
deployed (VRRPv2, 1 s adverts) and at keepalived's best (VRRPv3, 100 ms adverts)."""

from __future__ import annotations

from stand.model.daemons import DaemonKind
from stand.model.topology import KeepalivedSettings, Topology
from stand.modes.vip import VipMode


class Keepalived(VipMode):
    def vrrp_settings(self, topology: Topology) -> KeepalivedSettings:
        return topology.keepalived


class KeepalivedTuned(VipMode):
    def vrrp_settings(self, topology: Topology) -> KeepalivedSettings:
        return topology.keepalived_tuned


MODES = (
    Keepalived(name="keepalived", holds_vip=True, balancer_companion=DaemonKind.KEEPALIVED),
    KeepalivedTuned(name="keepalived-tuned", holds_vip=True, balancer_companion=DaemonKind.KEEPALIVED),
)

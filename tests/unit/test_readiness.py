"""What the stand reads from FRR, on its JSON as FRR 8.4 printed it on a running stand (tests/unit/data/frr)."""

import copy
import json
from pathlib import Path

from stand.runtime.readiness import Neighbor, parse_installed_next_hops, parse_neighbors

FRR = Path(__file__).parent / "data" / "frr"
ANYCAST = "198.18.2.0/32"
NEIGHBORS = json.loads((FRR / "ospf_neighbor.json").read_text())
ROUTE = json.loads((FRR / "route_anycast.json").read_text())


def test_the_routers_neighbours_are_the_last_resort_and_the_three_balancers_all_full():
    neighbors = parse_neighbors(NEIGHBORS)
    assert neighbors == [
        Neighbor("198.18.2.91", "Full/Backup"),
        Neighbor("198.18.2.94", "Full/DROther"),
        Neighbor("198.18.2.95", "Full/DROther"),
        Neighbor("198.18.2.96", "Full/DROther"),
    ]
    assert all(n.is_full for n in neighbors)


def test_a_neighbour_still_meeting_is_not_full():
    data = copy.deepcopy(NEIGHBORS)
    data["neighbors"]["198.18.2.95"][0]["nbrState"] = "ExStart/DROther"
    assert [n.router_id for n in parse_neighbors(data) if not n.is_full] == ["198.18.2.95"]


def test_no_ospf_answer_means_no_neighbour():
    assert parse_neighbors({}) == []


def test_the_installed_next_hops_are_the_three_balancers():
    assert parse_installed_next_hops(ROUTE, ANYCAST) == ["198.18.1.94", "198.18.1.95", "198.18.1.96"]


def test_a_next_hop_outside_the_fib_carries_no_traffic():
    data = copy.deepcopy(ROUTE)
    del data[ANYCAST][0]["nexthops"][1]["fib"]
    assert parse_installed_next_hops(data, ANYCAST) == ["198.18.1.94", "198.18.1.96"]


def test_a_route_not_selected_or_not_installed_has_no_next_hop():
    for flag in ("selected", "installed"):
        data = copy.deepcopy(ROUTE)
        data[ANYCAST][0][flag] = False
        assert parse_installed_next_hops(data, ANYCAST) == []
    assert parse_installed_next_hops({}, ANYCAST) == []

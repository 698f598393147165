from __future__ import annotations

import pytest

from crm_bridge.registry import AmbiguousComponent, ComponentClash, NoComponent, Registry


class Generic: ...


class TicketSpecific: ...


class Other: ...


def test_model_specific_component_beats_the_generic_one() -> None:
    reg = Registry()
    reg.add(Generic, usage="backend.adapter")
    reg.add(TicketSpecific, usage="backend.adapter", model="ticket")
    assert reg.get("backend.adapter", "ticket") is TicketSpecific
    assert reg.get("backend.adapter", "customer") is Generic


def test_two_components_at_the_same_level_are_ambiguous_and_named() -> None:
    reg = Registry()
    reg.add(Generic, usage="backend.adapter")
    reg.add(Other, usage="backend.adapter")
    with pytest.raises(AmbiguousComponent, match="Generic.*Other"):
        reg.get("backend.adapter", "ticket")
    assert reg.get("backend.adapter", "ticket", name="Other") is Other


def test_missing_component_names_what_is_registered_for_the_usage() -> None:
    reg = Registry()
    reg.add(Generic, usage="backend.adapter", model="customer")
    with pytest.raises(NoComponent, match=r"model='ticket'.*Generic \(model=customer\)"):
        reg.get("backend.adapter", "ticket")


def test_a_clash_keeps_nothing_of_the_addon_that_caused_it() -> None:
    reg = Registry()
    with reg.loading("first"):
        reg.add(Generic, usage="job", name="sync.pull")

    def faulty(r: Registry) -> None:
        r.add(Other, usage="job", name="other.job")
        r.add(TicketSpecific, usage="job", name="sync.pull")  # clash

    with pytest.raises(ComponentClash, match="'second'.*'first' already did"), reg.loading("second"):
        faulty(reg)
    assert [c.name for c in reg.all("job")] == ["sync.pull"]
    assert reg.get("job", name="sync.pull") is Generic

"""Method ``weighted``: each agent gets a share of a rule's requests proportional to their
``weight`` (``routing.agents.<key>.weight``, default 1), evenly spread, not in bursts.

Smooth weighted round robin (as nginx balances upstreams): at each decision every
eligible agent's credit grows by their weight, the one with the most credit wins (ties:
the configured order) and pays back the eligible agents' total weight. Over any run of
decisions with the same agents eligible, agent *a* gets weight(a)/Σweight of them, within
one request. The credits are stored per rule and agent (``routing_credits``), so the
shares hold across restarts and workers, like round robin's pointer. An ineligible agent
earns nothing while away: coming back, they are not owed a burst of requests.

Pure: the credits come in, the new ones go out in ``Decision.credits``::

    index, why, credits = choose_weighted(eligible, {"ivanova": 1.5, "petrov": -1.5})
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from routing.decide import AgentState

__all__ = ["choose_weighted"]


def choose_weighted(eligible: Sequence[tuple[int, AgentState]], credits: Mapping[str, float], *,
                    forced: int | None = None) -> tuple[int, str, dict[str, float]]:
    """Pick among `eligible` ((pool position, state), in pool order, not empty) by credit.

    Args:
        eligible: the agents who can take the request.
        credits: each agent's stored credit by key (missing: 0).
        forced: an index into `eligible` that wins anyway (the customer's last agent); the
            credits move as if it had won on its own, so it pays for the request.

    Returns:
        (index into `eligible`, why it won, the eligible agents' new credits).
    """
    total = sum(a.weight for _, a in eligible)
    grown = [credits.get(a.key, 0.0) + a.weight for _, a in eligible]
    index = forced if forced is not None else max(range(len(eligible)), key=lambda i: (grown[i], -i))
    new = {a.key: grown[i] - (total if i == index else 0.0) for i, (_, a) in enumerate(eligible)}
    winner = eligible[index][1]
    why = f"weighted: weight {winner.weight:g} of {total:g} eligible, credit {grown[index]:.2f}"
    runner = max((i for i in range(len(eligible)) if i != index), key=lambda i: (grown[i], -i), default=None)
    if runner is not None:
        why += f" (next: {eligible[runner][1].name}, {grown[runner]:.2f})"
    return index, why, new

"""Benchmark of the routing decision: decisions per second, and round robin's fairness
against a naive "least loaded by counting open tickets" picker, in the same run.

    python benchmarks/routing_bench.py [--agents 500] [--team 50] [--open 100000] [--requests 10000] [--seed 7]
        [--engine sqlite --engine postgresql] [--engine-requests 10000]

Cases: `agents` agents in teams of `team`, random skills (levels 1-5 in three skills),
capacities 20-400, a fifth off shift and a twentieth away; `open` open requests spread
over them as their load. Measured:

* ``routing.decide`` per method (round robin, least loaded, skills, weighted) routing `requests`
  requests to a random team, the state moving on after each assignment as the edge does;
* fairness over `requests` requests routed to one team of equally skilled, always
  available agents whose requests close at different speeds (each agent's own rate,
  0.2-0.9 per step): the max/min number assigned per agent for round robin (the stored
  pointer), and for a naive picker that counts each agent's open tickets in the list of
  open tickets at every decision (what a hand-written script or a "balanced" helpdesk
  does). The naive picker's time per decision is printed too. The target is a ratio
  ≤ 1.05 for round robin; the exit status is 1 when it is missed (or, with ``--engine``,
  when a store decides fewer than 2,000 per second);
* the weighted method's shares over `requests` requests to one team whose agents weigh
  1, 2 or 3 (credits carried as the store carries them): the largest gap between an
  agent's share and weight/Σweight, in requests (smooth weighted round robin: under 1).

Pure: the store's share (reading the roster, the guard's lock and recount) is not in
these numbers; ``--engine`` adds them: ``routing.tick`` on a real SQLite or PostgreSQL
store with the same number of agents and open requests, routing `engine-requests` new
ones (see ``benchmarks/routing_engine_bench.py``).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter
from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

from routing.decide import AgentState, Memo, RequestFacts, decide
from routing.settings import Capacity, RuleSpec

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=ZoneInfo("Europe/Moscow"))
TYPES = ["technical_problem", "consultation", "feedback", "urgent", "other"]
SKILLS = ["1c-accounting", "edo", "payroll"]


def roster(rng: random.Random, agents: int, team: int, open_total: int) -> dict[str | None, list[AgentState]]:
    states = []
    for i in range(agents):
        states.append(AgentState(
            key=f"agent{i}", name=f"Agent {i}", agent_id=i + 1,
            status="away" if rng.random() < 0.05 else "available",
            off_shift_until=NOW.replace(hour=18) if rng.random() < 0.2 else None,
            capacity=Capacity(max=rng.randint(20, 400), weights={"urgent": 2.0}),  # type: ignore[dict-item]
            skills={s: rng.randint(1, 5) for s in SKILLS if rng.random() < 0.6}))
    loads: list[Counter[str]] = [Counter() for _ in states]
    for _ in range(open_total):
        loads[rng.randrange(agents)][rng.choice(TYPES)] += 1
    states = [replace(a, open_by_type=dict(c)) for a, c in zip(states, loads, strict=True)]
    pools: dict[str | None, list[AgentState]] = {None: states}
    for start in range(0, agents, team):
        pools[f"T{start // team}"] = states[start:start + team]
    return pools


def speed(pools: dict[str | None, list[AgentState]], method: str, requests: int, rng: random.Random) -> float:
    teams = [t for t in pools if t is not None]
    rules = [RuleSpec(name=f"r{t}", team=t, method=method,  # type: ignore[arg-type]
                      skills={"1c-accounting": 2} if method == "skills" else {},
                      match={"tags": [t]})  # type: ignore[arg-type]  # validated into a Match
             for t in teams]
    pools = {t: list(p) for t, p in pools.items()}
    index = {t: {a.key: i for i, a in enumerate(p)} for t, p in pools.items()}
    pointers: dict[str, int] = {}
    credits: dict[str, dict[str, float]] = {}
    memo: Memo = {}  # as the tick keeps it: eligibility apart from load, once per agent and rule
    started = time.perf_counter()
    for _ in range(requests):
        team = rng.choice(teams)
        kind = rng.choice(TYPES)
        decision = decide(RequestFacts("CRM-1", kind, {"type": kind, "tags": [team]}), rules, pools, pointers, NOW,
                          credits=credits, memo=memo)
        if decision.credits is not None and decision.rule is not None:
            credits.setdefault(decision.rule, {}).update(decision.credits)
        if decision.agent is not None:
            at = index[team][decision.agent]
            pools[team][at] = pools[team][at].with_one_more(kind)
            if decision.pointer is not None and decision.rule is not None:
                pointers[decision.rule] = decision.pointer
    return requests / (time.perf_counter() - started)


def fairness(agents: int, requests: int, rng: random.Random) -> tuple[float, float, float]:
    """(round robin's max/min, the naive picker's max/min, the naive picker's decisions per second)."""
    rates = [rng.uniform(0.2, 0.9) for _ in range(agents)]
    team = [AgentState(key=f"a{i}", name=f"A{i}", agent_id=i + 1, capacity=Capacity(max=10_000)) for i in range(agents)]
    rule = RuleSpec(name="rr", method="round_robin")
    pointer, robin = 0, Counter[int]()
    for _ in range(requests):
        decision = decide(RequestFacts("CRM-1", "other", {"type": "other"}), [rule], {None: team}, {"rr": pointer}, NOW)
        assert decision.agent is not None
        assert decision.pointer is not None
        robin[int(decision.agent[1:])] += 1
        pointer = decision.pointer
    open_tickets: list[int] = []  # the agent of each open ticket
    naive = Counter[int]()
    started = time.perf_counter()
    for _ in range(requests):
        counts = Counter(open_tickets)  # counted anew at every decision
        chosen = min(range(agents), key=lambda i: counts[i])
        naive[chosen] += 1
        open_tickets.append(chosen)
        open_tickets = [owner for owner in open_tickets if rng.random() > rates[owner] * 0.004]  # some close
    naive_rate = requests / (time.perf_counter() - started)
    ratio = max(robin.values()) / min(robin.values())
    return ratio, max(naive.values()) / max(1, min(naive[i] for i in range(agents))), naive_rate


def weighted_gap(agents: int, requests: int, rng: random.Random) -> float:
    """The largest |assigned - requests * weight / Σweight| over the agents, in requests."""
    team = [AgentState(key=f"a{i}", name=f"A{i}", agent_id=i + 1, capacity=Capacity(max=10_000),
                       weight=float(rng.randint(1, 3))) for i in range(agents)]
    rule = RuleSpec(name="w", method="weighted")
    credits: dict[str, float] = {}
    got = Counter[str]()
    for _ in range(requests):
        decision = decide(RequestFacts("CRM-1", "other", {"type": "other"}), [rule], {None: team}, {}, NOW,
                          credits={"w": credits})
        assert decision.agent is not None
        assert decision.credits is not None
        got[decision.agent] += 1
        credits.update(decision.credits)
    total = sum(a.weight for a in team)
    return max(abs(got[a.key] - requests * a.weight / total) for a in team)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=500)
    parser.add_argument("--team", type=int, default=50)
    parser.add_argument("--open", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--engine", action="append", choices=["sqlite", "postgresql"],
                        help="also time routing.tick through this store (repeatable)")
    parser.add_argument("--engine-requests", type=int, default=10_000)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    failed = False
    pools = roster(rng, args.agents, args.team, args.open)
    print(f"{args.agents} agents in teams of {args.team}, {args.open:,} open requests as their load")
    for method in ("round_robin", "least_loaded", "skills", "weighted"):
        rate = speed(pools, method, args.requests, random.Random(args.seed))
        print(f"  decide, {method:<13} {rate:>10,.0f} decisions/s")
    fair_team = min(args.team, args.agents)
    ratio, naive_ratio, naive_rate = fairness(fair_team, args.requests, random.Random(args.seed))
    print(f"fairness over {args.requests:,} requests to {fair_team} equally skilled agents (max/min assigned per agent):")
    print(f"  round robin (stored pointer)           {ratio:.3f}")
    print(f"  naive least loaded by counting tickets {naive_ratio:.3f}  ({naive_rate:,.0f} decisions/s)")
    print(f"  ratio naive/round robin                {naive_ratio / ratio:.2f}")
    gap = weighted_gap(fair_team, args.requests, random.Random(args.seed))
    print(f"  weighted (weights 1-3), largest gap to weight/total: {gap:.2f} requests")
    if args.engine:
        from routing_engine_bench import report  # beside this file

        if not report(args.engine, args.agents, args.open, args.engine_requests, args.seed):
            print("routing.tick missed its target of 2,000 decisions/s", file=sys.stderr)
            failed = True
    if ratio > 1.05:
        print("round robin missed its fairness target of 1.05", file=sys.stderr)
        failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The simulator at a tiny scale against a real sidecar: every class, sane numbers."""

from __future__ import annotations

import random

import grpc

from bench.sim_population import ADVERSARIES, CLASSES, HONEST, build
from bench.sim_run import HMAC_KEY, run, summarise, table
from sendgate.v1 import sendgate_pb2 as pb
from sendgate.v1 import sendgate_pb2_grpc as pb_grpc
from tests.conftest import ServerFactory

SEED = 11


def test_population_is_reproducible_and_has_every_class() -> None:
    a, b = build(random.Random(SEED), 0.1, 2), build(random.Random(SEED), 0.1, 2)
    assert [(m.at, m.sender, m.recipient) for m in a.messages] == [
        (m.at, m.sender, m.recipient) for m in b.messages
    ]
    sent = {m.cls for m in a.messages if m.tally}
    assert sent >= set(CLASSES) - {"reply"}  # replies are made during the run
    assert {e.strong for e in a.evaders} == {True, False}
    other = build(random.Random(SEED + 1), 0.1, 2)
    assert [m.at for m in other.messages] != [m.at for m in a.messages]


async def test_tiny_run_reports_every_class(server_factory: ServerFactory) -> None:
    # Every message deduplicates by id: the run's ids are unique per seed, and the
    # session's shared Redis sees this seed once.
    server = await server_factory(ban_evasion={"hmac_key": HMAC_KEY})
    pop = build(random.Random(SEED), 0.1, 2)
    outcome = await run(
        f"127.0.0.1:{server.grpc_port}",
        pop,
        random.Random(SEED + 1),
        seed=SEED,
        sample_features=True,
    )
    summary = summarise([outcome])
    rows = summary["classes"]
    assert isinstance(rows, dict)
    for cls in CLASSES:
        r = rows[cls]
        assert r["accounts"] > 0 and r["messages"] > 0, cls
        assert 0 <= r["denied"] <= r["messages"], cls
        assert r["share"] is not None and 0 <= r["share"] <= 1, cls
    for cls in ADVERSARIES:
        assert rows[cls]["denied_after_first_10"] <= rows[cls]["after_first_10"] > 0, cls
    # Registration answers follow the ban-evasion rules exactly.
    assert rows["registration_strong"]["share"] == 1.0
    assert rows["registration_weak"]["share"] == 1.0
    # Registration crowds (velocity): honest sign-ups on a shared network pass, a farm's
    # are reported.
    campus, farm = rows["registration_campus"], rows["registration_farm"]
    assert campus["registrations"] > 0 and campus["met"] is True
    assert farm["registrations"] > 0 and farm["met"] is None
    # The samples carry the server's feature names and both labels.
    assert outcome.samples and {s.bad for s in outcome.samples} == {True, False}
    assert all(s.features and s.index > 10 for s in outcome.samples)
    assert {s.cls for s in outcome.samples} <= set(CLASSES) - {"business", "reply"}
    text = table(summary)
    assert all(f"| {cls} |" in text for cls in ADVERSARIES + HONEST)
    # A weak-match evader is held to the review allowance: its bulk is denied.
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.grpc_port}") as ch:
        weak = next(e.account for e in pop.evaders if not e.strong)
        got = await pb_grpc.SendGateAdminStub(ch).GetAccount(pb.GetAccountRequest(account=weak))
        assert got.account.under_review

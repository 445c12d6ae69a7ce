"""What a GitLab or Bitbucket delivery costs the intake in AWS calls (DESIGN.md §8; issue 12, hot path item 5),
counted with the bench's recorder at the botocore call site, through the real handler under moto:

- a container's first per-hook delivery: GetItem + KMS Decrypt (the shared hook-secret data key) + SendMessage;
- any other hook not cached in that container ("cold per-hook"): GetItem + SendMessage, no KMS;
- a hook already cached ("warm"): SendMessage alone.

A hook stored before the shared data key (its own KMS data key) still opens, at a Decrypt, and its next health check
seals it under the shared key."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator

import pytest
from cryptography.exceptions import InvalidTag

from bench.aws_calls import Recorder, Step
from gitconnect import wiring
from tests.support.hook_deliveries import PROVIDERS, deliver, store_hook
from tests.support.inprocess import System

INTAKE = "WebhookIntakeFunction"
GET, DECRYPT, SEND = ("DynamoDB", "GetItem"), ("KMS", "Decrypt"), ("SQS", "SendMessage")


@pytest.fixture(scope="module")
def recorder(system: System) -> Iterator[Recorder]:
    recorder = Recorder()
    recorder.wrap(INTAKE, system.functions[INTAKE])
    with recorder.patched():
        yield recorder


def intake_calls(
        recorder: Recorder, system: System, provider: str, hook_id: str, secret: str) -> Counter[tuple[str, str]]:
    """One accepted delivery; the intake's AWS calls, by (service, operation)."""
    step = Step()
    with recorder.counting(step):
        assert deliver(system, provider, hook_id, secret) == 202
    return Counter({(service, op): n for (caller, service, op), n in step.calls.items() if caller == INTAKE})


@pytest.mark.parametrize("provider", PROVIDERS)
def test_an_uncached_hook_costs_two_calls_and_no_kms_once_the_container_opened_the_shared_key(
        system: System, recorder: Recorder, provider: str) -> None:
    # Given: two hooks sealed by a writer (another container: the intake's is new)
    team = f"team-{uuid.uuid4().hex[:8]}"
    first, second = store_hook(provider, team), store_hook(provider, team)
    wiring.reset()
    # When / Then: the container's first hook opens the shared data key once
    assert intake_calls(recorder, system, provider, *first) == Counter({GET: 1, DECRYPT: 1, SEND: 1})
    # ... another hook it never saw costs its record only (cold per-hook: 2 calls)
    assert intake_calls(recorder, system, provider, *second) == Counter({GET: 1, SEND: 1})
    # ... and a hook it has seen costs the send alone (warm: 1 call)
    assert intake_calls(recorder, system, provider, *first) == Counter({SEND: 1})
    assert intake_calls(recorder, system, provider, *second) == Counter({SEND: 1})


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_hook_stored_before_the_shared_key_opens_and_its_next_check_seals_it_under_the_shared_key(
        system: System, recorder: Recorder, provider: str) -> None:
    # Given: a hook sealed under its own data key (as every hook was before), and a current one
    team = f"team-{uuid.uuid4().hex[:8]}"
    legacy, current = store_hook(provider, team, legacy=True), store_hook(provider, team)
    before = wiring.stores().hooks.get(legacy[0])
    assert before is not None and before.secret[0] == 1
    wiring.reset()
    assert intake_calls(recorder, system, provider, *current)[DECRYPT] == 1  # the container opens the shared key
    # When: it is delivered to, uncached, in a container that holds the shared key: its own Decrypt still
    assert intake_calls(recorder, system, provider, *legacy) == Counter({GET: 1, DECRYPT: 1, SEND: 1})
    # ... then its health check runs (due at once: put with check_due_at 0; the suite checks at every sync)
    system.sync()
    after = wiring.stores().hooks.get(legacy[0])
    assert after is not None and after.secret[0] == 2 and after.secret != before.secret
    # Then: a new container delivers to it like any other hook, with the same secret
    wiring.reset()
    assert intake_calls(recorder, system, provider, *current)[DECRYPT] == 1
    assert intake_calls(recorder, system, provider, *legacy) == Counter({GET: 1, SEND: 1})


def test_a_secret_copied_onto_another_hook_does_not_verify(system: System) -> None:
    # Given: two hooks; the first one's sealed secret written onto the second's record
    team = f"team-{uuid.uuid4().hex[:8]}"
    (a, secret_a), (b, _) = store_hook("gitlab", team), store_hook("gitlab", team)
    hooks = wiring.stores().hooks
    sealed_a, hook_b = hooks.get(a), hooks.get(b)
    assert sealed_a is not None and hook_b is not None
    assert hooks.reseal(b, hook_b.secret, sealed_a.secret)
    wiring.reset()
    # When / Then: the shared data key opens, but the record's context (the AES-GCM associated data) does not match
    with pytest.raises(InvalidTag):
        wiring.secrets().open_hook_secret(hooks.get(b))  # type: ignore[arg-type]
    assert wiring.secrets().open_hook_secret(hooks.get(a)) == secret_a  # type: ignore[arg-type]


def test_a_reseal_never_undoes_a_secret_written_meanwhile(system: System) -> None:
    # Given: a legacy hook read by a check, then regenerated (a new sealed secret) before the check reseals it
    team = f"team-{uuid.uuid4().hex[:8]}"
    hook_id, _ = store_hook("bitbucket", team, legacy=True)
    hooks = wiring.stores().hooks
    read = hooks.get(hook_id)
    assert read is not None
    regenerated = wiring.secrets().seal_hook_secret(team, hook_id, "the regenerated secret")
    assert hooks.reseal(hook_id, read.secret, regenerated)
    # When: the check's reseal, conditional on the secret it read, is written
    resealed = wiring.secrets().resealed_hook_secret(read)
    assert resealed is not None
    # Then: refused; the regenerated secret stays
    assert not hooks.reseal(hook_id, read.secret, resealed)
    assert wiring.secrets().open_hook_secret(hooks.get(hook_id)) == "the regenerated secret"  # type: ignore[arg-type]

import multiprocessing as mp
import os
import subprocess
import sys
import time

from lpsens.launch.claims import (
    CLAIM_NAME,
    ClaimState,
    Owner,
    break_stale,
    inspect_claim,
    try_claim,
)


def _race(job_dir, barrier, results, i):
    barrier.wait()
    claim = try_claim(job_dir, Owner.here(f"launch{i}", i))
    results.put(claim is not None)


def test_exactly_one_of_many_processes_claims(tmp_path):
    ctx = mp.get_context("spawn")
    n = 6
    barrier, results = ctx.Barrier(n), ctx.Queue()
    procs = [ctx.Process(target=_race, args=(tmp_path, barrier, results, i)) for i in range(n)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    wins = [results.get() for _ in range(n)]
    assert wins.count(True) == 1


def _dead_pid():
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_states_live_dead_pid_old_heartbeat(tmp_path):
    assert inspect_claim(tmp_path, stale_after_s=60)[0] is ClaimState.FREE
    claim = try_claim(tmp_path, Owner.here("me", 0))
    assert claim is not None and try_claim(tmp_path, Owner.here("other", 1)) is None
    assert inspect_claim(tmp_path, stale_after_s=60)[0] is ClaimState.LIVE
    # old heartbeat: stale even though the pid (ours) lives
    old = time.time() - 120
    os.utime(tmp_path / CLAIM_NAME, (old, old))
    assert inspect_claim(tmp_path, stale_after_s=60)[0] is ClaimState.STALE
    claim.heartbeat()
    assert inspect_claim(tmp_path, stale_after_s=60)[0] is ClaimState.LIVE
    # another host: only the heartbeat counts
    assert inspect_claim(tmp_path, stale_after_s=60, host="elsewhere")[0] is ClaimState.LIVE
    claim.release()
    assert not (tmp_path / CLAIM_NAME).exists()


def test_dead_owner_on_this_host_is_stale_and_breakable(tmp_path):
    owner = Owner.here("gone", 0)
    dead = Owner(owner.launch, owner.host, _dead_pid(), 0, owner.nonce, owner.time)
    assert try_claim(tmp_path, dead) is not None
    state, info = inspect_claim(tmp_path, stale_after_s=3600)
    assert state is ClaimState.STALE and info["pid"] == dead.pid
    # a stale claim seen earlier but replaced since is not removed
    assert not break_stale(tmp_path, {"nonce": "something else"}, stale_after_s=3600)
    assert break_stale(tmp_path, info, stale_after_s=3600)
    assert try_claim(tmp_path, Owner.here("next", 0)) is not None


def test_release_leaves_someone_elses_claim(tmp_path):
    mine = try_claim(tmp_path, Owner.here("me", 0))
    (tmp_path / CLAIM_NAME).unlink()
    theirs = try_claim(tmp_path, Owner.here("them", 1))
    mine.release()
    assert (tmp_path / CLAIM_NAME).exists()
    theirs.release()

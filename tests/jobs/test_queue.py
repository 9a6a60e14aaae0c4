"""The outbox: enqueue with dedupe, claims, retries with backoff, dead jobs, leases, schedules."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select, update

from lti_tool.extensions import db, utcnow
from lti_tool.jobs import enqueue, run_due, sweep
from lti_tool.jobs.models import Job, JobStatus
from lti_tool.jobs.queue import backoff, claim, execute, job_as_dict, retry_dead, run_one
from lti_tool.jobs.runtime import JobsRuntime, runtime_of

from . import handlers


def _runtime(app: Flask) -> JobsRuntime:
    return runtime_of(app)


def _add(app: Flask, kind: str, payload: dict[str, Any] | None = None, **kwargs: Any) -> int:
    with app.app_context():
        job_id = enqueue(db.session(), kind, payload or {}, **kwargs)
        db.session.commit()
        return job_id


def _job(app: Flask, job_id: int) -> Job:
    with app.app_context():
        job = db.session.get(Job, job_id)
        assert job is not None
        db.session.expunge(job)
        return job


def _run(app: Flask, worker: str = "w1", limit: int = 100) -> Any:
    runtime = _runtime(app)
    return run_due(runtime.session_factory, worker, limit, settings=runtime.settings.jobs)


def test_a_job_runs_once_and_keeps_its_result(app: Flask) -> None:
    job_id = _add(app, "test.record", {"n": 7})
    report = _run(app)
    assert [o.status for o in report.outcomes] == ["done"]
    job = _job(app, job_id)
    assert job.status == JobStatus.DONE and job.result == {"n": 7} and job.attempts == 1
    assert job.locked_by is None and job.finished_at is not None
    assert _run(app).ran == 0


def test_one_pending_job_per_key(app: Flask) -> None:
    first = _add(app, "test.record", {"n": 1}, key="course:1")
    assert _add(app, "test.record", {"n": 2}, key="course:1") == first
    assert _job(app, first).payload == {"n": 1}
    assert _add(app, "test.record", {"n": 3}, key="course:1", replace=True) == first
    assert _job(app, first).payload == {"n": 3}
    other = _add(app, "test.record", {"n": 4}, key="course:2")
    assert other != first
    _run(app)
    again = _add(app, "test.record", {"n": 5}, key="course:1")  # the first one finished
    assert again not in (first, other)


def test_a_running_job_is_not_replaced(app: Flask) -> None:
    runtime = _runtime(app)
    job_id = _add(app, "test.record", {"n": 1}, key="k")
    claimed = claim(runtime.session_factory, "w1", lease=30)
    assert claimed is not None and claimed.id == job_id
    assert _add(app, "test.record", {"n": 2}, key="k", replace=True) == job_id
    assert _job(app, job_id).payload == {"n": 1}


def test_enqueue_refuses_unknown_kinds_and_unserialisable_payloads(app: Flask) -> None:
    with app.app_context():
        with pytest.raises(ValueError, match="no handler"):
            enqueue(db.session(), "nope", {})
        with pytest.raises(TypeError):
            enqueue(db.session(), "test.record", {"when": object()})


def test_a_rolled_back_enqueue_leaves_nothing_and_wakes_nobody(app: Flask) -> None:
    runtime = _runtime(app)
    runtime.wake.clear()
    with app.app_context():
        enqueue(db.session(), "test.record", {})
        db.session.rollback()
        assert db.session.scalar(select(func.count()).select_from(Job)) == 0
    assert not runtime.wake.is_set()
    _add(app, "test.record", {})
    assert runtime.wake.is_set()


@pytest.mark.parametrize("settings_overrides", [{"JOBS_BACKOFF_BASE": "0"}])
def test_failures_are_retried_until_they_succeed(app: Flask) -> None:
    job_id = _add(app, "test.flaky", {"fail_times": 2})
    report = _run(app)
    assert [o.status for o in report.outcomes] == ["retry", "retry", "done"]
    job = _job(app, job_id)
    assert job.status == JobStatus.DONE and job.attempts == 3 and job.last_error is None


@pytest.mark.parametrize("settings_overrides", [{"JOBS_BACKOFF_BASE": "0"}])
def test_a_job_is_dead_after_its_attempts(app: Flask) -> None:
    job_id = _add(app, "test.flaky", {"fail_times": 99})  # the handler allows 3 attempts
    report = _run(app)
    assert [o.status for o in report.outcomes] == ["retry", "retry", "dead"]
    job = _job(app, job_id)
    assert job.status == JobStatus.DEAD and "boom on attempt 3" in (job.last_error or "")
    assert job.active_key is None


def test_a_permanent_error_is_dead_at_once(app: Flask) -> None:
    job_id = _add(app, "test.permanent", key="p")
    assert [o.status for o in _run(app).outcomes] == ["dead"]
    assert _job(app, job_id).last_error == "PermanentError: the LMS said no"
    assert _add(app, "test.permanent", key="p") != job_id  # the key is free again


@pytest.mark.parametrize("settings_overrides", [{"JOBS_DEAD_AFTER": "0.5"}])
def test_a_job_failing_for_longer_than_the_dead_age_is_dead(app: Flask) -> None:
    job_id = _add(app, "test.flaky", {"fail_times": 99})
    with app.app_context():
        db.session.execute(
            update(Job).where(Job.id == job_id).values(created_at=utcnow() - timedelta(seconds=1))
        )
        db.session.commit()
    assert [o.status for o in _run(app).outcomes] == ["dead"]


@pytest.mark.parametrize(
    "settings_overrides", [{"JOBS_BACKOFF_BASE": "1", "JOBS_BACKOFF_MAX": "4"}]
)
def test_retry_waits_a_jittered_exponential_backoff(app: Flask) -> None:
    job_id = _add(app, "test.flaky", {"fail_times": 99})
    before = utcnow()
    assert [o.status for o in _run(app, limit=1).outcomes] == ["retry"]
    after = utcnow()
    run_after = _job(app, job_id).run_after
    assert (run_after - before).total_seconds() >= 0.5
    assert (run_after - after).total_seconds() <= 1.0
    assert all(0.5 <= backoff(1, 1, 4) <= 1 for _ in range(50))
    assert all(2 <= backoff(3, 1, 4) <= 4 for _ in range(50))
    assert all(2 <= backoff(30, 1, 4) <= 4 for _ in range(50))  # capped


def test_retry_after_from_the_lms_is_the_least_wait(app: Flask) -> None:
    job_id = _add(app, "test.later", {"retry_after": 120})
    before = utcnow()
    assert [o.status for o in _run(app).outcomes] == ["retry"]
    after = utcnow()  # the attempt ended somewhere in between (seconds on a loaded machine)
    run_after = _job(app, job_id).run_after
    assert (run_after - before).total_seconds() >= 119
    assert (run_after - after).total_seconds() <= 121


@pytest.mark.parametrize("settings_overrides", [{"JOBS_LEASE": "0.2"}])
def test_a_crashed_workers_lease_expires_and_the_job_runs_again(app: Flask) -> None:
    runtime = _runtime(app)
    job_id = _add(app, "test.record", {"n": 1})
    ghost = claim(runtime.session_factory, "ghost", lease=0.2)  # then the worker dies
    assert ghost is not None
    assert _run(app, "w2").ran == 0  # leased: nobody else may take it
    time.sleep(0.3)
    report = sweep(runtime.session_factory, runtime.settings)
    assert report.requeued == 1
    assert "lease expired" in (_job(app, job_id).last_error or "")
    assert [o.status for o in _run(app, "w2").outcomes] == ["done"]
    job = _job(app, job_id)
    assert job.attempts == 2 and job.status == JobStatus.DONE
    # The ghost comes back to life and finishes: its result is not recorded over w2's.
    assert execute(runtime.session_factory, ghost, "ghost", runtime.settings.jobs).status == "lost"
    assert _job(app, job_id).status == JobStatus.DONE


@pytest.mark.parametrize("settings_overrides", [{"JOBS_LEASE": "0.1", "JOBS_MAX_ATTEMPTS": "1"}])
def test_an_expired_lease_on_the_last_attempt_is_dead(app: Flask) -> None:
    runtime = _runtime(app)
    job_id = _add(app, "test.record")
    assert claim(runtime.session_factory, "ghost", lease=0.1) is not None
    time.sleep(0.2)
    assert sweep(runtime.session_factory, runtime.settings).dead == 1
    assert _job(app, job_id).status == JobStatus.DEAD


def test_concurrent_workers_never_run_the_same_job_twice(app: Flask) -> None:
    runtime = _runtime(app)
    with app.app_context():
        for i in range(150):
            enqueue(db.session(), "test.record", {"n": i, "sleep": 0.002})
        db.session.commit()
    start = threading.Barrier(4)

    def work(name: str) -> int:
        start.wait()
        report = run_due(runtime.session_factory, name, 1000, settings=runtime.settings.jobs)
        return report.ran

    with ThreadPoolExecutor(4) as pool:
        counts = list(pool.map(work, ["w1", "w2", "w3", "w4"]))
    ids = [job_id for job_id, _, _ in handlers.runs()]
    assert len(ids) == 150 and len(set(ids)) == 150
    assert sum(counts) == 150
    assert sum(1 for c in counts if c) >= 2  # the work was really shared
    with app.app_context():
        rows = db.session.execute(select(Job.status, Job.attempts)).all()
    assert {(s, a) for s, a in rows} == {(JobStatus.DONE, 1)}


def test_run_one_runs_only_that_job_and_only_when_due(app: Flask) -> None:
    runtime = _runtime(app)
    later = _add(app, "test.record", run_after=utcnow() + timedelta(hours=1))
    now = _add(app, "test.record")
    assert run_one(runtime.session_factory, "w", later, runtime.settings.jobs) is None
    outcome = run_one(runtime.session_factory, "w", now, runtime.settings.jobs)
    assert outcome is not None and outcome.status == "done"
    assert _job(app, later).status == JobStatus.QUEUED


@pytest.mark.parametrize("settings_overrides", [{"TEST_EVERY": "3600"}])
def test_periodic_jobs_are_enqueued_once_per_interval_across_workers(app: Flask) -> None:
    runtime = _runtime(app)
    reports = [sweep(runtime.session_factory, runtime.settings) for _ in range(3)]
    assert [len(r.scheduled) for r in reports] == [1, 0, 0]
    assert [o.kind for o in _run(app).outcomes] == ["test.periodic"]
    assert sweep(runtime.session_factory, runtime.settings).scheduled == []  # next one in 1 h


@pytest.mark.parametrize("settings_overrides", [{"JOBS_KEEP": "60"}])
def test_the_sweep_prunes_old_finished_jobs(app: Flask) -> None:
    runtime = _runtime(app)
    old, recent = _add(app, "test.record"), _add(app, "test.record")
    _run(app)
    with app.app_context():
        db.session.execute(
            update(Job).where(Job.id == old).values(updated_at=utcnow() - timedelta(hours=1))
        )
        db.session.commit()
    assert sweep(runtime.session_factory, runtime.settings).pruned == 1
    with app.app_context():
        assert db.session.scalars(select(Job.id)).all() == [recent]


def test_a_dead_job_can_be_retried_from_the_cli(app: Flask) -> None:
    job_id = _add(app, "test.permanent", key="again")
    _run(app)
    runner = app.test_cli_runner()
    listed = runner.invoke(args=["jobs", "list", "--status", "dead", "--json"])
    assert listed.exit_code == 0 and f'"id": {job_id}' in listed.output
    assert runner.invoke(args=["jobs", "retry", str(job_id)]).exit_code == 0
    job = _job(app, job_id)
    assert job.status == JobStatus.QUEUED and job.attempts == 0 and job.active_key == "again"
    refused = runner.invoke(args=["jobs", "retry", str(job_id)])
    assert refused.exit_code == 2 and "not dead" in refused.output
    with app.app_context():
        assert retry_dead(db.session(), 9999) is False


def test_jobs_work_burst_drains_what_is_due(app: Flask) -> None:
    for i in range(3):
        _add(app, "test.record", {"n": i})
    _add(app, "test.record", run_after=utcnow() + timedelta(hours=1))
    result = app.test_cli_runner().invoke(args=["jobs", "work", "--burst"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "3 done, 0 to retry, 0 dead"
    assert len(handlers.runs()) == 3


def test_a_request_while_the_job_runs_runs_once_more_after_it_never_beside_it(
    app: Flask,
) -> None:
    runtime = _runtime(app)
    job_id = _add(app, "test.record", {"n": 1}, key="k", rerun=True)
    claimed = claim(runtime.session_factory, "w1", lease=30)
    assert claimed is not None and claimed.id == job_id
    # Asked for twice more while it runs: remembered once, with the latest payload (replace).
    assert _add(app, "test.record", {"n": 2}, key="k", rerun=True, replace=True) == job_id
    assert _add(app, "test.record", {"n": 3}, key="k", rerun=True, replace=True) == job_id
    assert _run(app, "w2").ran == 0  # never beside the running attempt
    assert job_as_dict(_job(app, job_id))["rerun"] is True  # what `jobs list --json` says
    outcome = execute(runtime.session_factory, claimed, "w1", runtime.settings.jobs)
    assert outcome.status == "done" and outcome.result == {"n": 1}
    job = _job(app, job_id)
    assert job.status == JobStatus.QUEUED and job.active_key == "k"
    assert job.payload == {"n": 3} and job.attempts == 0 and not job.rerun
    assert job.rerun_payload is None
    assert [o.result for o in _run(app, "w2").outcomes] == [{"n": 3}]  # once, not twice
    assert _job(app, job_id).status == JobStatus.DONE
    assert [run[0] for run in handlers.runs()] == [job_id, job_id]


def test_without_replace_the_first_request_during_a_run_is_kept(app: Flask) -> None:
    runtime = _runtime(app)
    job_id = _add(app, "test.record", {"n": 1}, key="k")
    claimed = claim(runtime.session_factory, "w1", lease=30)
    assert claimed is not None
    assert _add(app, "test.record", {"n": 2}, key="k", rerun=True) == job_id
    assert _add(app, "test.record", {"n": 3}, key="k", rerun=True) == job_id
    execute(runtime.session_factory, claimed, "w1", runtime.settings.jobs)
    assert _job(app, job_id).payload == {"n": 2}


def test_a_request_during_an_attempt_that_dies_is_a_fresh_job(app: Flask) -> None:
    runtime = _runtime(app)
    job_id = _add(app, "test.permanent", {"n": 1}, key="p")
    claimed = claim(runtime.session_factory, "w1", lease=30)
    assert claimed is not None
    _add(app, "test.permanent", {"n": 2}, key="p", rerun=True)
    assert execute(runtime.session_factory, claimed, "w1", runtime.settings.jobs).status == "dead"
    job = _job(app, job_id)
    assert job.status == JobStatus.QUEUED and job.attempts == 0 and job.payload == {"n": 2}
    assert job.last_error == "PermanentError: the LMS said no"  # what happened stays visible
    assert [o.status for o in _run(app).outcomes] == ["dead"]  # and it ends: no loop
    assert _job(app, job_id).status == JobStatus.DEAD


def test_a_retry_takes_the_request_made_during_its_attempt_and_keeps_its_wait(
    app: Flask,
) -> None:
    runtime = _runtime(app)
    job_id = _add(app, "test.later", {"retry_after": 120}, key="l")
    claimed = claim(runtime.session_factory, "w1", lease=30)
    assert claimed is not None
    _add(app, "test.later", {"retry_after": 60, "n": 2}, key="l", rerun=True)
    before = utcnow()
    assert execute(runtime.session_factory, claimed, "w1", runtime.settings.jobs).status == "retry"
    job = _job(app, job_id)
    assert job.status == JobStatus.QUEUED and job.attempts == 1 and not job.rerun
    assert job.payload == {"retry_after": 60, "n": 2}
    assert (job.run_after - before).total_seconds() >= 119  # the LMS's Retry-After holds


@pytest.mark.parametrize("settings_overrides", [{"JOBS_LEASE": "0.1", "JOBS_MAX_ATTEMPTS": "1"}])
def test_a_request_during_a_killed_workers_last_attempt_is_not_lost(app: Flask) -> None:
    runtime = _runtime(app)
    job_id = _add(app, "test.record", {"n": 1}, key="k")
    assert claim(runtime.session_factory, "ghost", lease=0.1) is not None  # then it dies
    assert _add(app, "test.record", {"n": 2}, key="k", rerun=True) == job_id
    time.sleep(0.2)
    report = sweep(runtime.session_factory, runtime.settings)
    assert (report.requeued, report.dead) == (1, 0)
    assert [o.result for o in _run(app).outcomes] == [{"n": 2}]


def test_a_request_racing_the_end_of_a_run_is_honoured_exactly_once(app: Flask) -> None:
    """Whichever commits first, the run's end or the request: one job is queued after both."""
    runtime = _runtime(app)
    for i in range(12):
        key = f"race:{i}"
        _add(app, "test.record", {"n": 0}, key=key)
        claimed = claim(runtime.session_factory, "w1", lease=30)
        assert claimed is not None
        start = threading.Barrier(2)

        def finish(job: Any = claimed, start: threading.Barrier = start) -> None:
            start.wait()
            execute(runtime.session_factory, job, "w1", runtime.settings.jobs)

        def request(key: str = key, start: threading.Barrier = start) -> None:
            start.wait()
            _add(app, "test.record", {"n": 1}, key=key, rerun=True)

        with ThreadPoolExecutor(2) as pool:
            for future in [pool.submit(finish), pool.submit(request)]:
                future.result()
        with app.app_context():
            rows = db.session.execute(
                select(Job.status, Job.payload).where(Job.key == key).order_by(Job.id)
            ).all()
        pending = [(s, p) for s, p in rows if s != JobStatus.DONE]
        assert pending == [(JobStatus.QUEUED, {"n": 1})], rows
        _run(app)
